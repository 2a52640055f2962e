// ConnectionRef: what a ConnectionTask sees of the connection it was posted to
// (Server::post_to): its id, the requests it owes answers to, and a graceful close. A view,
// valid only during the task: keep the id, not the ref.
//
//   // A handler remembers who asked (reply.connection() is the connection's ConnId) ...
//   tern::ConnId id = reply.connection();
//   // ... and any thread, later, reaches that connection through its server:
//   server.post_to(id, [](tern::ConnectionRef connection) {
//     if (connection.in_flight() == 0) connection.close();
//   });
//
// Where a task runs: on the connection's loop thread (single, loops, hsha, and the reactor
// pattern, with the connection locked against its workers), or under leader/followers, which
// has no loops, at once on the posting thread with the connection locked (where replies from
// other threads run too). A task for an id whose connection has closed (its slot perhaps
// reused by another: the generation differs) does not run; it is destroyed unrun.
#pragma once

#include <cstddef>

#include "tern/base/unique_function.h"
#include "tern/net/conn_id.h"
#include "tern/protocol/session_base.h"

namespace tern {

class ConnectionRef {
 public:
  ConnectionRef(SessionBase& session, ConnId id) noexcept : session_(session), id_(id) {}

  // The connection's thread (the task's), like every method here.
  ConnId id() const noexcept { return id_; }
  // Requests read and handed to the handler that are not answered yet (streams not ended).
  size_t in_flight() const noexcept { return session_.in_flight(); }
  // Graceful: the answers owed to the requests already handed to the handler are written, then
  // a lingering close (the peer reads them, then EOF). Nothing more is read or served.
  void close() { session_.close_when_answered(); }

 private:
  SessionBase& session_;
  ConnId id_;
};

// Run on a connection's thread by Server::post_to. Move-only; destroyed unrun when its
// connection is gone.
using ConnectionTask = UniqueFunction<void(ConnectionRef)>;

}  // namespace tern
