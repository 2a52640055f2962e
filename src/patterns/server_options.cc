#include "tern/patterns/server_options.h"

#include <algorithm>
#include <array>
#include <string>

#include "tern/backend/backend_traits.h"

namespace tern {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kMaxWorkers = 1024;

// Which backends serve each pattern, decided by what the backend says it can do
// (BackendTraits), never by its name:
//  - emulated: tern does the I/O on readiness, so the backend must not perform I/O itself;
//  - proactor: the backend must perform the I/O (io_uring, aio);
//  - reactor: the handler's thread does the I/O on one-shot readiness, which must be the
//    backend's own (aio's is an inner epoll's: a reactor there would be a reactor on epoll
//    under another name) and level-triggered. The handler stops reading at the pipeline and
//    high-water limits and must hear again about the bytes it left; an edge-triggered backend
//    (epoll-et, sigio) reports them once only, and would never report them again.
// Returns why `pattern` does not run on such a backend; empty when it does.
std::string_view refusal(Pattern pattern, const BackendTraits& traits) noexcept {
  switch (pattern) {
    case Pattern::emulated:
      if (traits.performs_io) return "the backend performs the I/O itself: nothing to emulate";
      return {};
    case Pattern::proactor:
      if (!traits.performs_io) return "the backend only reports readiness: it performs no I/O";
      return {};
    case Pattern::reactor:
      if (!traits.native_readiness) return "the backend's readiness is borrowed from epoll";
      if (traits.edge_triggered) {
        return "readiness is edge-triggered: bytes a handler leaves unread are never reported "
               "again";
      }
      return {};
  }
  return "unknown pattern";
}

bool serves(Pattern pattern, BackendKind backend) noexcept {
  return refusal(pattern, traits_of(backend)).empty();
}

// Leader/followers: the threads wait on one readiness set together, so its backend must let
// several threads share readiness with a one-shot re-arm from any of them, and the handlers do
// the I/O as in the reactor.
bool serves_lf(BackendKind backend) noexcept {
  return serves(Pattern::reactor, backend) && traits_of(backend).shared_readiness;
}

template <class Predicate>
std::string backends_where(Predicate serves_backend) {
  std::string names;
  for (BackendKind kind : all_backend_kinds()) {
    if (!serves_backend(kind)) continue;
    if (!names.empty()) names += ' ';
    names += to_string(kind);
  }
  return names.empty() ? "none" : names;
}

std::string padded(std::string text, size_t width) {
  if (text.size() < width) text.resize(width, ' ');
  return text;
}

std::string invalid(const std::string& why) {
  return why + "\nvalid combinations:\n" + valid_combinations();
}

}  // namespace

Pattern effective_pattern(const ServerOptions& options) noexcept {
  if (options.pattern) return *options.pattern;
  if (options.model == Model::lf) return Pattern::reactor;
  return traits_of(options.backend).performs_io ? Pattern::proactor : Pattern::emulated;
}

std::string valid_combinations() {
  const Pattern patterns[] = {Pattern::emulated, Pattern::proactor, Pattern::reactor};
  std::string lists[3];
  size_t width = 32;
  for (size_t i = 0; i < 3; ++i) {
    lists[i] = backends_where([&](BackendKind kind) { return serves(patterns[i], kind); });
    width = std::max(width, lists[i].size());
  }
  const std::string lf = backends_where(serves_lf);
  width = std::max(width, lf.size()) + 2;
  std::string table = "  model   pattern    " + padded("backends", width) + "threads  workers\n";
  for (size_t i = 0; i < 3; ++i) {
    table += "  single  " + padded(pattern_name(patterns[i]), 11) + padded(lists[i], width) +
             "1        0\n";
  }
  const std::string as_single = padded("(as single, any pattern and its backends)", 11 + width);
  table += "  loops   " + as_single + "N >= 1   0\n";
  table += "  hsha    " + as_single + "N >= 1   M >= 1\n";
  table += "  lf      " + padded("reactor", 11) + padded(lf, width) + "N >= 1   0\n";
  table +=
      "  (--balance reuse-port: loops and hsha only; pattern defaults to the backend's own:\n"
      "   proactor where the backend performs the I/O, reactor for lf, emulated otherwise)\n";
  return table;
}

std::string check_options(const ServerOptions& options) {
  const Pattern pattern = effective_pattern(options);
  const std::string combo = std::string("--model ") + model_name(options.model) +
                            " --pattern " + pattern_name(pattern) + " --backend " +
                            std::string(to_string(options.backend));
  if (options.threads < 1 || options.threads > kMaxThreads) {
    return invalid("--threads must be 1.." + std::to_string(kMaxThreads));
  }
  if (options.workers < 0 || options.workers > kMaxWorkers) {
    return invalid("--workers must be 0.." + std::to_string(kMaxWorkers));
  }
  if (std::string_view why = refusal(pattern, traits_of(options.backend)); !why.empty()) {
    return invalid(combo + ": the " + pattern_name(pattern) + " pattern does not run on " +
                   std::string(to_string(options.backend)) + " (" + std::string(why) + ")");
  }
  switch (options.model) {
    case Model::single:
      if (options.threads != 1 || options.workers != 0) {
        return invalid("--model single runs one loop and no workers (use loops or hsha)");
      }
      break;
    case Model::loops:
      if (options.workers != 0) return invalid("--model loops runs handlers on the loops: no workers (use hsha)");
      break;
    case Model::hsha:
      if (options.workers < 1) return invalid("--model hsha needs --workers >= 1");
      break;
    case Model::lf:
      if (pattern != Pattern::reactor || !serves_lf(options.backend)) {
        return invalid(combo + ": leader/followers shares one readiness set between its "
                               "threads (--pattern reactor, --backend " +
                       backends_where(serves_lf) + ")");
      }
      if (options.workers != 0) return invalid("--model lf: the --threads do all the work, no --workers");
      if (options.balancing == Balancing::reuse_port) {
        return invalid("--model lf has one listener in its shared set: no --balance reuse-port");
      }
      if (options.on_loop_start || options.on_loop_stop) {
        return invalid("--model lf has no event loops for this program's per-loop state "
                       "(use single, loops or hsha)");
      }
      break;
  }
  if (options.model != Model::lf && (options.on_lf_thread_start || options.on_lf_thread_stop)) {
    return invalid(std::string("--model ") + model_name(options.model) +
                   " has no leader/followers threads for this program's per-thread hooks");
  }
  if (options.queue_capacity == 0) return invalid("--queue must be at least 1");
  if (options.max_pipeline == 0) return invalid("max_pipeline must be at least 1");
  return {};
}

std::optional<Model> parse_model(std::string_view name) noexcept {
  if (name == "single") return Model::single;
  if (name == "loops") return Model::loops;
  if (name == "hsha") return Model::hsha;
  if (name == "lf") return Model::lf;
  return std::nullopt;
}

std::optional<Pattern> parse_pattern(std::string_view name) noexcept {
  if (name == "emulated") return Pattern::emulated;
  if (name == "proactor") return Pattern::proactor;
  if (name == "reactor") return Pattern::reactor;
  return std::nullopt;
}

std::optional<Balancing> parse_balancing(std::string_view name) noexcept {
  if (name == "round-robin") return Balancing::round_robin;
  if (name == "reuse-port") return Balancing::reuse_port;
  return std::nullopt;
}

const char* model_name(Model model) noexcept {
  constexpr std::array<const char*, 4> names{"single", "loops", "hsha", "lf"};
  return names[static_cast<size_t>(model)];
}

const char* pattern_name(Pattern pattern) noexcept {
  constexpr std::array<const char*, 3> names{"emulated", "proactor", "reactor"};
  return names[static_cast<size_t>(pattern)];
}

const char* balancing_name(Balancing balancing) noexcept {
  return balancing == Balancing::round_robin ? "round-robin" : "reuse-port";
}

}  // namespace tern
