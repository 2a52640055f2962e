#include "tern/metrics/registry.h"

#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace tern::metrics {
namespace {

// One registered source. Its own mutex is held while its fill runs, so remove() can wait for
// a running fill of another thread and then mark the source removed: after remove returns,
// no fill of it starts.
struct Source {
  SourceId id = 0;
  std::optional<LoopHandle> loop;  // unset: a plain source, filled on the collecting thread
  Fill fill;
  std::mutex mutex;
  bool removed = false;  // guarded by mutex

  // Runs the fill into `out` unless the source was removed meanwhile.
  void fill_into(Snapshot& out) {
    std::lock_guard lock(mutex);
    if (!removed) fill(out);
  }
};

// One collect in progress: a part per source (kept in registration order so every scrape
// lists its series in the same order, whichever loop answers first), and the count of parts
// still missing. Whoever delivers the last part calls done.
class Gathering {
 public:
  Gathering(size_t parts, std::function<void(Snapshot)> done)
      : parts_(parts), missing_(parts), done_(std::move(done)) {}

  // Any thread, once per part (an empty Snapshot when the source could not answer).
  void deliver(size_t index, Snapshot part) {
    {
      std::lock_guard lock(mutex_);
      parts_[index] = std::move(part);
      if (--missing_ != 0) return;
    }
    // The last part: nobody else touches parts_ any more.
    Snapshot all;
    for (const Snapshot& p : parts_) all.merge(p);
    parts_.clear();
    auto done = std::move(done_);
    done(std::move(all));
  }

 private:
  std::mutex mutex_;
  std::vector<Snapshot> parts_;
  size_t missing_;
  std::function<void(Snapshot)> done_;
};

// The part a loop owes to a gathering. Delivered when the task runs; if the task is destroyed
// unrun (the loop went away with it queued, or refused the post), its destructor delivers an
// empty part so the collect still completes.
class Answer {
 public:
  Answer(std::shared_ptr<Gathering> gathering, size_t index)
      : gathering_(std::move(gathering)), index_(index) {}
  Answer(Answer&& other) noexcept
      : gathering_(std::move(other.gathering_)), index_(other.index_) {}
  Answer& operator=(Answer&&) = delete;
  ~Answer() {
    if (gathering_) gathering_->deliver(index_, Snapshot{});
  }

  void deliver(Snapshot part) {
    auto gathering = std::move(gathering_);
    gathering->deliver(index_, std::move(part));
  }

 private:
  std::shared_ptr<Gathering> gathering_;
  size_t index_;
};

}  // namespace

struct Registry::State {
  std::mutex mutex;
  SourceId next_id = 1;
  std::vector<std::shared_ptr<Source>> sources;  // in registration order

  SourceId add(std::optional<LoopHandle> loop, Fill fill) {
    auto source = std::make_shared<Source>();
    source->loop = loop;
    source->fill = std::move(fill);
    std::lock_guard lock(mutex);
    source->id = next_id++;
    sources.push_back(source);
    return source->id;
  }
};

Registry::Registry() : state_(std::make_shared<State>()) {}
Registry::~Registry() = default;

SourceId Registry::add_loop_source(LoopHandle loop, Fill fill) {
  return state_->add(loop, std::move(fill));
}

SourceId Registry::add_source(Fill fill) { return state_->add(std::nullopt, std::move(fill)); }

void Registry::remove(SourceId id) noexcept {
  std::shared_ptr<Source> source;
  {
    std::lock_guard lock(state_->mutex);
    auto& sources = state_->sources;
    for (auto it = sources.begin(); it != sources.end(); ++it) {
      if ((*it)->id == id) {
        source = std::move(*it);
        sources.erase(it);
        break;
      }
    }
  }
  if (!source) return;
  // Waits for a fill running on another thread; a collect that still holds the source
  // sees the flag and skips it.
  std::lock_guard lock(source->mutex);
  source->removed = true;
}

void Registry::collect(std::function<void(Snapshot)> done) const {
  std::vector<std::shared_ptr<Source>> sources;
  {
    std::lock_guard lock(state_->mutex);
    sources = state_->sources;
  }
  auto gathering = std::make_shared<Gathering>(sources.size() + 1, std::move(done));
  // Part 0 is the caller's own, delivered last, so that with no loop sources done runs here.
  Answer own(gathering, 0);
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::shared_ptr<Source>& source = sources[i];
    if (!source->loop) continue;
    Answer answer(gathering, i + 1);
    // A refused post destroys the task, and with it the answer: an empty part.
    post_to(*source->loop, [source, answer = std::move(answer)]() mutable {
      Snapshot part;
      source->fill_into(part);
      answer.deliver(std::move(part));
    });
  }
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i]->loop) continue;
    Answer answer(gathering, i + 1);
    Snapshot part;
    sources[i]->fill_into(part);
    answer.deliver(std::move(part));
  }
  own.deliver(Snapshot{});
}

}  // namespace tern::metrics
