#include "backend/backend.h"

#include <array>

#include "backend/readiness_backend.h"

namespace tern {
namespace {

struct KindName {
  BackendKind kind;
  std::string_view name;
};

constexpr std::array<KindName, 4> kKinds{{
    {BackendKind::select, "select"},
    {BackendKind::poll, "poll"},
    {BackendKind::epoll, "epoll"},
    {BackendKind::epoll_et, "epoll-et"},
}};

constexpr std::array<BackendKind, 4> kAllKinds{BackendKind::select, BackendKind::poll,
                                               BackendKind::epoll, BackendKind::epoll_et};

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

std::string_view backend_kind_names() noexcept { return "select|poll|epoll|epoll-et"; }

std::unique_ptr<Backend> make_backend(BackendKind kind, std::error_code& error) {
  std::unique_ptr<Poller> poller;
  switch (kind) {
    case BackendKind::select: poller = make_select_poller(error); break;
    case BackendKind::poll: poller = make_poll_poller(error); break;
    case BackendKind::epoll: poller = make_epoll_poller(/*edge_triggered=*/false, error); break;
    case BackendKind::epoll_et: poller = make_epoll_poller(/*edge_triggered=*/true, error); break;
  }
  if (!poller) return nullptr;
  return std::make_unique<ReadinessBackend>(kind, std::move(poller));
}

}  // namespace tern
