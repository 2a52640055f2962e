// store-writer: the child of the durability test. Puts COUNT keys into the SQLite database at
// PATH through tern::store, IN_FLIGHT at a time, and prints "ack N" on stdout (one write(2)
// per line, nothing buffered) as each put's callback reports success: every line printed is a
// put the storage acknowledged. Then "done", and it waits to be killed (a watchdog ends it
// after two minutes if the test never does).
//
//   store-writer PATH COUNT IN_FLIGHT [full|normal]
//
// Key N is "key-N", its value value_for(N) (the test recomputes it).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tern/loop/event_loop.h"
#include "tern/store/store.h"

namespace {

std::string value_for(int n) {
  std::string value = "value-" + std::to_string(n) + "-";
  value.append(static_cast<size_t>(n % 200), static_cast<char>('a' + n % 26));
  return value;
}

void say(const std::string& line) {
  std::string text = line + "\n";
  ssize_t ignored = ::write(STDOUT_FILENO, text.data(), text.size());
  (void)ignored;
}

struct Writer {
  tern::store::Store& store;
  int count;
  int next = 0;
  int acked = 0;

  void issue() {
    int n = next++;
    store.put("key-" + std::to_string(n), value_for(n), [this, n](tern::Result<bool> created) {
      if (!created) {
        say("error " + std::to_string(n) + " " + created.error().message());
        std::exit(2);
      }
      say("ack " + std::to_string(n));
      if (++acked == count) say("done");
      if (next < count) issue();
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: store-writer PATH COUNT IN_FLIGHT [full|normal]\n");
    return 2;
  }
  tern::store::StorageConfig config;
  config.url = std::string("sqlite:") + argv[1];
  if (argc > 4) config.durability = tern::store::parse_durability(argv[4]).value_or(config.durability);
  int count = std::atoi(argv[2]);
  int in_flight = std::atoi(argv[3]);
  std::string why;
  auto storage = tern::store::open_storage(config, why);
  if (!storage) {
    std::fprintf(stderr, "store-writer: %s\n", why.c_str());
    return 1;
  }
  tern::EventLoop loop;
  auto store = storage->attach(loop);
  Writer writer{*store, count};
  for (int i = 0; i < in_flight && i < count; ++i) writer.issue();
  loop.run_after(std::chrono::minutes(2), [] { std::exit(3); });
  loop.run();
}
