// tern's HTTP/1.1 in one include: the router and its handlers, requests and responses, the
// protocol options, static files and the client. (tern/tern.h is the core.)
#pragma once

#include "tern/http/client.h"
#include "tern/http/date.h"
#include "tern/http/fetch.h"
#include "tern/http/message.h"
#include "tern/http/protocol.h"
#include "tern/http/request.h"
#include "tern/http/response.h"
#include "tern/http/router.h"
#include "tern/http/static_files.h"
#include "tern/http/status.h"
#include "tern/http/uri.h"
#include "tern/tern.h"
