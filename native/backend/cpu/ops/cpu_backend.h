// The CPU implementation of the Backend interface (backend.h). It owns one persistent thread
// pool; each operation runs on it and has finished when it returns. Operations on one backend
// are serialised (a mutex), so one backend may be shared by several callers; for parallel
// sessions give each its own backend.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace petrel {

// n_threads <= 0: one thread per hardware thread. The caller's thread counts as one of them.
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

}  // namespace petrel
