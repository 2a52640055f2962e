// The log file (tern/base/logging.h): set_log_file sends lines to a file, reopen_log_file
// follows a rename (log rotation: lines before the reopen stay in the renamed file, lines after
// it go to a new file at the path), and log_limited says how many lines it suppressed. Its own
// binary: once a process has a log file, nothing goes to stderr.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tern/base/logging.h"

namespace {

using namespace std::chrono_literals;

std::string file_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Each test sends the process's log lines to a file of its own (set_log_file switches files).
TEST(LogFile, LinesFollowTheFileAcrossARenameAndReopen) {
  char dir_template[] = "/tmp/tern-log-limiter-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/test.log";
  ASSERT_FALSE(tern::set_log_file(path.c_str()));

  tern::LogLimiter limiter(24h);
  for (int i = 0; i < 3; ++i) tern::log_limited(limiter, tern::LogLevel::warn, "storm %d", i);
  tern::log(tern::LogLevel::warn, "before rotation");
  ASSERT_EQ(::rename(path.c_str(), (path + ".1").c_str()), 0);
  tern::log(tern::LogLevel::warn, "still the old file");
  ASSERT_FALSE(tern::reopen_log_file());
  tern::log(tern::LogLevel::warn, "after rotation");

  std::string rotated = file_text(path + ".1");
  std::string fresh = file_text(path);
  EXPECT_NE(rotated.find("tern warn: storm 0\n"), std::string::npos) << rotated;
  EXPECT_EQ(rotated.find("storm 1"), std::string::npos) << "the limiter let a second line by";
  EXPECT_NE(rotated.find("before rotation"), std::string::npos) << rotated;
  EXPECT_NE(rotated.find("still the old file"), std::string::npos) << rotated;
  EXPECT_EQ(rotated.find("after rotation"), std::string::npos) << rotated;
  EXPECT_NE(fresh.find("after rotation"), std::string::npos) << fresh;

  ::unlink(path.c_str());
  ::unlink((path + ".1").c_str());
  ::rmdir(dir.c_str());
}

TEST(LogFile, LimitedLineSaysHowManyWereSuppressed) {
  char dir_template[] = "/tmp/tern-log-limiter-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/limited.log";
  ASSERT_FALSE(tern::set_log_file(path.c_str()));
  tern::LogLimiter limiter(1ms);
  tern::log_limited(limiter, tern::LogLevel::warn, "first");
  // Refused calls until one passes: it carries the count. Bounded by a count, not a clock.
  int calls = 0;
  std::string text;
  while ((text = file_text(path)).find("again") == std::string::npos && calls < 100'000'000) {
    tern::log_limited(limiter, tern::LogLevel::warn, "again");
    ++calls;
  }
  ASSERT_NE(text.find("again"), std::string::npos);
  EXPECT_NE(text.find("tern warn: first\n"), std::string::npos) << text;
  if (calls > 1) {
    std::string expected = "again (" + std::to_string(calls - 1) + " similar lines suppressed)\n";
    EXPECT_NE(text.find(expected), std::string::npos) << text;
  }
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
