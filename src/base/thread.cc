#include "base/thread.h"

#include <pthread.h>
#include <signal.h>

namespace tern {

std::thread start_thread(std::string name, std::function<void()> body) {
  // The new thread inherits the mask in force when it is created: block everything around
  // the creation, then restore this thread's own mask.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  std::thread thread([name = std::move(name), body = std::move(body)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    body();
  });
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return thread;
}

}  // namespace tern
