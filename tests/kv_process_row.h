// A model and backend a tern-kv child runs under, for the suites that start the real program
// once per row (tern_kv_test, kv_store_backpressure_test).
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

struct KvRow {
  const char* name;
  const char* model;
  const char* backend;
  int threads;
  int workers;

  // The row's flags, --strict so that a missing backend fails instead of falling back.
  std::vector<std::string> flags() const {
    return {"--backend", backend, "--strict", "--model", model,
            "--threads", std::to_string(threads), "--workers", std::to_string(workers)};
  }
};

inline void PrintTo(const KvRow& row, std::ostream* out) { *out << row.name; }

inline std::string kv_row_name(const testing::TestParamInfo<KvRow>& row) {
  return row.param.name;
}
