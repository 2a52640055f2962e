// Threads tern starts: named (for top -H and gdb), with every signal blocked, so signals go
// to the threads the program chose (its main thread, or a loop's signalfd) and never to a
// worker in the middle of a handler.
#pragma once

#include <functional>
#include <string>
#include <thread>

namespace tern {

std::thread start_thread(std::string name, std::function<void()> body);

}  // namespace tern
