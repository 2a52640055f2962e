#include "process_sampler.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace tern::bench {
namespace {

struct StatLine {
  int pid = 0;
  int ppid = 0;
  uint64_t ticks = 0;  // utime + stime
};

// /proc/PID/stat: "pid (comm) state ppid ... utime(14) stime(15)"; comm may hold spaces and
// parentheses, so fields are counted from the last ')'.
bool read_stat(int pid, StatLine& out) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::ifstream in(path);
  std::string text;
  if (!std::getline(in, text)) return false;
  auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  const char* p = text.c_str() + close + 2;  // at the state field (3)
  char* end = nullptr;
  std::vector<unsigned long long> fields;
  p = std::strchr(p, ' ');  // skip the state
  while (p && fields.size() < 13) {
    fields.push_back(std::strtoull(p, &end, 10));  // fields 4.. (ppid first)
    if (end == p) break;
    p = end;
  }
  if (fields.size() < 12) return false;
  out.pid = pid;
  out.ppid = int(fields[0]);
  out.ticks = fields[10] + fields[11];  // utime (14), stime (15)
  return true;
}

// The pid and every descendant alive now.
std::vector<StatLine> process_tree(int root) {
  std::vector<StatLine> all;
  if (DIR* dir = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(dir)) {
      int pid = std::atoi(entry->d_name);
      StatLine line;
      if (pid > 0 && read_stat(pid, line)) all.push_back(line);
    }
    ::closedir(dir);
  }
  std::vector<StatLine> tree;
  for (const auto& line : all) {
    if (line.pid == root) tree.push_back(line);
  }
  if (tree.empty()) return tree;
  for (size_t i = 0; i < tree.size(); ++i) {  // breadth first over the parent links
    for (const auto& line : all) {
      if (line.ppid == tree[i].pid) tree.push_back(line);
    }
  }
  return tree;
}

}  // namespace

std::optional<double> ProcessSampler::cpu_seconds() const {
  auto tree = process_tree(pid_);
  if (tree.empty()) return std::nullopt;
  uint64_t ticks = 0;
  for (const auto& line : tree) ticks += line.ticks;
  return double(ticks) / double(::sysconf(_SC_CLK_TCK));
}

std::optional<uint64_t> ProcessSampler::rss_kib() const {
  auto tree = process_tree(pid_);
  if (tree.empty()) return std::nullopt;
  uint64_t total = 0;
  for (const auto& line : tree) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", line.pid);
    std::ifstream in(path);
    std::string text;
    while (std::getline(in, text)) {
      if (text.rfind("VmRSS:", 0) == 0) {
        total += std::strtoull(text.c_str() + 6, nullptr, 10);
        break;
      }
    }
  }
  return total;
}

}  // namespace tern::bench
