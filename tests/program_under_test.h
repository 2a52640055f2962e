// A server program under test, run as a child process (tests/child_process.h): started with
// its arguments, ready once it prints "...listening on 127.0.0.1:PORT...", and ended as every
// tern program should end: SIGTERM, then exit 0, with no report from a sanitizer (their
// options reach the child through the environment). tern-httpd, tern-proxy and proxy-upstream
// are driven this way; the tern-echo suites, which start their child with other options and
// judge its exit themselves, share the reading of the listening line.
//
// Thread rule: the test thread.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.h"

namespace tern::test {

inline constexpr std::string_view kListeningMarker = "listening on 127.0.0.1:";

// The port in a line "...listening on 127.0.0.1:PORT..." (after `marker`), or 0.
inline uint16_t port_after(std::string_view line, std::string_view marker = kListeningMarker) {
  size_t at = line.find(marker);
  if (at == std::string_view::npos) return 0;
  return static_cast<uint16_t>(std::atoi(std::string(line.substr(at + marker.size())).c_str()));
}

// Reads the first stdout line of a just-started server for up to `timeout`: the port it
// listens on, 0 when no such line came. The line read, if any, goes to `line`.
inline uint16_t read_listening_port(ChildProcess& child, ChildProcess::Clock::duration timeout,
                                    std::string* line = nullptr) {
  auto first = child.read_stdout_line(timeout);
  if (!first) return 0;
  if (line != nullptr) *line = *first;
  return port_after(*first);
}

class ProgramUnderTest {
 public:
  // Starts `path` with `args` and waits up to `start_timeout` for its listening line; check
  // started() (and failure()) before use. `exit_timeout` bounds the wait for its exit.
  ProgramUnderTest(const std::string& path, const std::vector<std::string>& args,
                   std::chrono::seconds start_timeout, std::chrono::seconds exit_timeout)
      : exit_timeout_(exit_timeout) {
    std::string error;
    if (!child_.spawn(path, args, error)) {
      failure_ = "cannot start " + path + ": " + error;
      return;
    }
    port_ = read_listening_port(child_, start_timeout, &listening_line_);
    if (port_ == 0) {
      failure_ = "no listening line from " + path + "; stdout: " + child_.stdout_text() +
                 " stderr: " + child_.stderr_text();
    }
  }
  // Unless terminate() ran: SIGTERM, then expects exit 0.
  ~ProgramUnderTest() {
    if (!started() || stopped_) return;
    ExitStatus status = terminate();
    EXPECT_TRUE(status.exited_with(0)) << status.describe() << "\n" << child_.stderr_text();
  }
  ProgramUnderTest(const ProgramUnderTest&) = delete;
  ProgramUnderTest& operator=(const ProgramUnderTest&) = delete;

  bool started() const { return port_ != 0; }
  const std::string& failure() const { return failure_; }
  const std::string& listening_line() const { return listening_line_; }
  uint16_t port() const { return port_; }
  ChildProcess& child() { return child_; }

  // SIGTERM and the exit (SIGKILLed past the exit timeout), expecting no sanitizer report.
  ExitStatus terminate() {
    stopped_ = true;
    child_.send_signal(SIGTERM);
    ExitStatus status = child_.wait(exit_timeout_);
    EXPECT_EQ(child_.stderr_text().find("Sanitizer"), std::string::npos) << child_.stderr_text();
    return status;
  }

 private:
  ChildProcess child_;
  std::chrono::seconds exit_timeout_;
  uint16_t port_ = 0;
  bool stopped_ = false;
  std::string failure_;
  std::string listening_line_;
};

}  // namespace tern::test
