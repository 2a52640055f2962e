// The report of a run: the human summary (wrk-like), the JSON document of spec section 2,
// and the exit status the result deserves.
#pragma once

#include <string>

#include "options.h"
#include "run_result.h"

namespace tern::bench {

std::string render_text(const BenchOptions& options, const RunResult& result);
std::string render_json(const BenchOptions& options, const RunResult& result);
// 0 done; 1 failed: unreachable, no reply completed, any mismatch or parse error.
int exit_status(const BenchOptions& options, const RunResult& result);

}  // namespace tern::bench
