// The one admin start of tern-httpd and tern-kv (AdminServer::start_from, apps/common/
// admin_server.h) when it cannot listen: the admin port is already taken by a listener this
// test holds, so the program, run as a child process, must say so and exit 1 (after shutting
// down the public server it had started), never print the "admin on" line nor serve.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "child_process.h"
#include "temp_dir.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

// A loopback listener on a port the kernel picked, held for the test's life (no SO_REUSEPORT,
// so nobody else can bind that port while it is open).
class HeldPort {
 public:
  HeldPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  ~HeldPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;

  uint16_t port() const { return port_; }  // 0: no port could be held

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

struct ProgramCase {
  const char* name;
  std::string path;
  std::function<std::vector<std::string>(const TempDir&)> args;  // public side
};

std::vector<ProgramCase> program_cases() {
  return {
      {"tern_httpd", TERN_HTTPD_PATH,
       [](const TempDir& dir) {
         return std::vector<std::string>{"--port", "0", "--root", dir.path().string()};
       }},
      {"tern_kv", TERN_KV_PATH,
       [](const TempDir& dir) {
         return std::vector<std::string>{"--port", "0", "--store",
                                         "sqlite:" + (dir.path() / "kv.db").string()};
       }},
  };
}

class AdminStartTest : public testing::TestWithParam<ProgramCase> {};

TEST_P(AdminStartTest, ATakenAdminPortIsRefusedWithTheReasonAndExitOne) {
  HeldPort held;
  ASSERT_NE(held.port(), 0) << "no loopback port could be held";
  TempDir dir;
  std::string admin = "127.0.0.1:" + std::to_string(held.port());
  auto args = GetParam().args(dir);
  args.insert(args.end(), {"--admin", admin});
  CommandResult result = run_command(GetParam().path, args, 20s);
  ASSERT_TRUE(result.error.empty()) << result.error;
  EXPECT_TRUE(result.status.exited_with(1)) << result.status.describe() << "\n" << result.err;
  EXPECT_NE(result.err.find("cannot listen on " + admin + " (admin)"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.out.find("admin on"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("listening on"), std::string::npos) << result.out;
}

INSTANTIATE_TEST_SUITE_P(Programs, AdminStartTest, testing::ValuesIn(program_cases()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace tern::test
