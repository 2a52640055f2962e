// The routes of tern-httpd: /plaintext and /json (when the live site has them on), and every
// other path to the live site's static files.
//
// Thread rule: build on one thread; the router's handler is called from any thread.
#pragma once

#include "live_site.h"
#include "tern/http/router.h"

namespace tern::apps {

// `site` must outlive the router's handler.
http::Router httpd_router(const LiveSite& site);

}  // namespace tern::apps
