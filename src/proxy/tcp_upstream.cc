// TcpUpstream is all inline (tcp_upstream.h): a ConnectionPool behind the UpstreamTransport
// interface. This file keeps the one-pair-per-class layout and checks the header stands alone.
#include "proxy/tcp_upstream.h"
