// Server::post_to's one "look up, check the generation, run" step, shared by every engine.
//
// The look-up is the engine's SessionFinder, the same map of ConnIds to sessions the replies
// use (a loop's Slab, or lf's registry), so the generation check is written once per map and
// never again here: a stale id finds nothing and its task is destroyed unrun. The finder also
// does what the transport needs around a visit (one-shot readiness: the connection's lock, then
// its write and re-arm), so a task that closes the connection is seen through like a reply.
#pragma once

#include <cstddef>
#include <utility>

#include "tern/loop/loop_group.h"
#include "tern/loop/loop_handle.h"
#include "tern/net/conn_id.h"
#include "tern/protocol/connection_ref.h"
#include "tern/protocol/service.h"

namespace tern {

// Where `finder` may be visited (its loop's thread; lf: any thread): runs `task` on the
// session `id` names, if it is still there.
inline void run_connection_task(SessionFinder& finder, ConnId id, ConnectionTask& task) {
  finder.visit(id, [&](SessionBase& session) { task(ConnectionRef(session, id)); });
}

// Any thread, for the engines whose loops are a LoopGroup: finders[i] is loop i's. Posts `task`
// to the loop `id` names; false (the task destroyed here) when that is no loop of `group`, or
// the loop is gone or stopping. An id of another server's loop is refused: its task would run
// on that loop with this server's finder.
template <class Finders>
bool post_connection_task(const LoopGroup& group, Finders& finders, ConnId id,
                          ConnectionTask task) {
  for (size_t i = 0; i < finders.size(); ++i) {
    if (group.handle(i) != id.loop) continue;
    SessionFinder& finder = *finders[i];
    return post_to(id.loop, [&finder, id, task = std::move(task)]() mutable {
      run_connection_task(finder, id, task);
    });
  }
  return false;
}

}  // namespace tern
