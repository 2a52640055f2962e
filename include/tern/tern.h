// tern: the whole public API in one include.
#pragma once

#include "tern/backend/backend_kind.h"
#include "tern/base/clock.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/base/result.h"
#include "tern/loop/event_loop.h"
#include "tern/loop/watcher.h"
#include "tern/net/acceptor.h"
#include "tern/net/connector.h"
#include "tern/net/inet_address.h"
#include "tern/net/socket.h"
#include "tern/net/tcp_client.h"
#include "tern/net/tcp_connection.h"
#include "tern/net/tcp_server.h"
