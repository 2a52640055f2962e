#include "tern/patterns/server_options.h"

#include <array>
#include <string>

namespace tern {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kMaxWorkers = 1024;

// Which backends serve each pattern: emulation needs readiness, the proactor needs a backend
// that performs the I/O, and the reactor needs one-shot, level-triggered readiness
// (EPOLLONESHOT, or POLL_ADD on io_uring): its handler stops reading at the pipeline and
// high-water limits and must hear again about the bytes it left. Edge-triggered readiness
// (epoll-et, sigio) reports those bytes once only, and aio's readiness is borrowed, so those
// backends serve only their own pattern.
bool serves(Pattern pattern, BackendKind backend) noexcept {
  switch (pattern) {
    case Pattern::emulated:
      return backend != BackendKind::uring && backend != BackendKind::aio;
    case Pattern::proactor:
      return backend == BackendKind::uring || backend == BackendKind::aio;
    case Pattern::reactor:
      return backend != BackendKind::aio && backend != BackendKind::sigio &&
             backend != BackendKind::epoll_et;
  }
  return false;
}

std::string invalid(const std::string& why) {
  return why + "\nvalid combinations:\n" + valid_combinations();
}

}  // namespace

Pattern effective_pattern(const ServerOptions& options) noexcept {
  if (options.pattern) return *options.pattern;
  if (options.model == Model::lf) return Pattern::reactor;
  if (options.backend == BackendKind::uring || options.backend == BackendKind::aio) {
    return Pattern::proactor;
  }
  return Pattern::emulated;
}

std::string valid_combinations() {
  return "  model   pattern    backends                          threads  workers\n"
         "  single  emulated   select poll epoll epoll-et sigio  1        0\n"
         "  single  proactor   uring aio                         1        0\n"
         "  single  reactor    select poll epoll uring           1        0\n"
         "  loops   (as single, any pattern and its backends)    N >= 1   0\n"
         "  hsha    (as single, any pattern and its backends)    N >= 1   M >= 1\n"
         "  lf      reactor    epoll                             N >= 1   0\n"
         "  (--balance reuse-port: loops and hsha only; pattern defaults to the backend's own:\n"
         "   proactor on uring and aio, reactor for lf, emulated otherwise)\n";
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
  if (!serves(pattern, options.backend)) {
    return invalid(combo + ": the " + pattern_name(pattern) + " pattern does not run on " +
                   std::string(to_string(options.backend)));
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
      if (pattern != Pattern::reactor || options.backend != BackendKind::epoll) {
        return invalid(combo + ": leader/followers shares one epoll set (--backend epoll, "
                               "--pattern reactor)");
      }
      if (options.workers != 0) return invalid("--model lf: the --threads do all the work, no --workers");
      if (options.balancing == Balancing::reuse_port) {
        return invalid("--model lf has one listener in its shared set: no --balance reuse-port");
      }
      break;
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
