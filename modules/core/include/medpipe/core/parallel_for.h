#pragma once
// One parallel loop for the modules: items handed out one at a time to a few threads.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace medpipe {

// Runs WORK(i) for every i in [0, COUNT) on up to THREADS threads, this one included. The first
// exception stops the handing out of further items and is rethrown once every thread has finished.
template <typename Work>
void ParallelFor(size_t count, unsigned threads, const Work& work) {
  if (count == 0) return;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  const auto drain = [&] {
    for (size_t i; !failed && (i = next++) < count;) {
      try {
        work(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true)) first_error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers(std::min<size_t>(std::max(threads, 1u), count) - 1);
  for (auto& helper : helpers) helper = std::thread(drain);
  drain();
  for (auto& helper : helpers) helper.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace medpipe
