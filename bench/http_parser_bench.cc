// The HTTP/1.1 request parser on its own (no I/O): a typical ~300-byte browser request parsed
// whole, the same request arriving in two reads, and a small chunked upload. Reports requests
// and bytes per second; steady state (the parser's buffers already warm), as on a keep-alive
// connection.
//
//   build/bench/http_parser_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <string>

#include "tern/http/parser.h"

namespace {

using tern::http::Limits;
using tern::http::ParseStatus;
using tern::http::RequestParser;

const std::string kBrowserRequest =
    "GET /docs/index.html?lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kChunkedUpload =
    "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "40;n=1\r\n" + std::string(64, 'x') + "\r\n40\r\n" + std::string(64, 'y') + "\r\n0\r\n\r\n";

void parse_whole(benchmark::State& state, const std::string& request) {
  RequestParser parser{Limits{}};
  for (auto _ : state) {
    parser.reset();
    if (parser.parse(request) != ParseStatus::complete) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(parser.request().headers.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t(request.size()));
}

void BM_BrowserRequest(benchmark::State& state) { parse_whole(state, kBrowserRequest); }
BENCHMARK(BM_BrowserRequest);

void BM_ChunkedUpload(benchmark::State& state) { parse_whole(state, kChunkedUpload); }
BENCHMARK(BM_ChunkedUpload);

// The request split in the middle of a field: the second call resumes from the scan offset.
void BM_BrowserRequestInTwoReads(benchmark::State& state) {
  RequestParser parser{Limits{}};
  std::string_view whole = kBrowserRequest;
  std::string_view first = whole.substr(0, whole.size() / 2);
  for (auto _ : state) {
    parser.reset();
    if (parser.parse(first) != ParseStatus::need_more ||
        parser.parse(whole) != ParseStatus::complete) {
      state.SkipWithError("parse failed");
    }
    benchmark::DoNotOptimize(parser.request().headers.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t(whole.size()));
}
BENCHMARK(BM_BrowserRequestInTwoReads);

}  // namespace

BENCHMARK_MAIN();
