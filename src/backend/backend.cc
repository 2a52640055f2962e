#include "backend/backend.h"

#include <array>

#include "backend/readiness_backend.h"

namespace tern {
namespace {

struct KindName {
  BackendKind kind;
  std::string_view name;
};

constexpr std::array<KindName, 7> kKinds{{
    {BackendKind::select, "select"},
    {BackendKind::poll, "poll"},
    {BackendKind::epoll, "epoll"},
    {BackendKind::epoll_et, "epoll-et"},
    {BackendKind::uring, "uring"},
    {BackendKind::aio, "aio"},
    {BackendKind::sigio, "sigio"},
}};

constexpr std::array<BackendKind, 7> kAllKinds{
    BackendKind::select, BackendKind::poll,  BackendKind::epoll, BackendKind::epoll_et,
    BackendKind::uring,  BackendKind::aio,   BackendKind::sigio};

}  // namespace

std::string_view to_string(BackendKind kind) noexcept {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

std::optional<BackendKind> parse_backend_kind(std::string_view name) noexcept {
  for (const auto& k : kKinds) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

std::span<const BackendKind> all_backend_kinds() noexcept { return kAllKinds; }

std::string_view backend_kind_names() noexcept {
  return "select|poll|epoll|epoll-et|uring|aio|sigio";
}

BackendTraits traits_of(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::select: return select_traits();
    case BackendKind::poll: return poll_traits();
    case BackendKind::epoll: return epoll_traits(/*edge_triggered=*/false);
    case BackendKind::epoll_et: return epoll_traits(/*edge_triggered=*/true);
    case BackendKind::sigio: return sigio_traits();
    case BackendKind::uring: return uring_traits();
    case BackendKind::aio: return aio_traits();
  }
  return {};
}

std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& options,
                                      std::error_code& error) {
  std::unique_ptr<Poller> poller;
  switch (kind) {
    case BackendKind::select: poller = make_select_poller(error); break;
    case BackendKind::poll: poller = make_poll_poller(error); break;
    case BackendKind::epoll: poller = make_epoll_poller(/*edge_triggered=*/false, error); break;
    case BackendKind::epoll_et: poller = make_epoll_poller(/*edge_triggered=*/true, error); break;
    case BackendKind::sigio: poller = make_sigio_poller(error); break;
    case BackendKind::uring: return make_uring_backend(options, error);
    case BackendKind::aio: return make_aio_backend(options, error);
  }
  if (!poller) return nullptr;
  return std::make_unique<ReadinessBackend>(kind, std::move(poller));
}

}  // namespace tern
