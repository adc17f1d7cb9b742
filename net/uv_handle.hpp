#pragma once
// UvHandle<H>: unique ownership of one heap-allocated libuv handle (uv_timer_t, uv_poll_t, ...).
//
// libuv may only free a handle's memory in its close callback, so the destructor does not free:
// it clears handle->data (a late callback then sees nullptr and must return), calls uv_close, and
// the close callback frees the memory (running an optional on-closed hook first, e.g. to close the
// fd a uv_poll_t watched, strictly after the poll handle is closed).
// Lifetime: the loop must still be run afterwards (net::closeAllAndDrain does) for the memory to be
// freed. If the handle was already closed by someone else (closeAllAndDrain force-closing a handle
// whose owner was still alive), the block is deliberately leaked rather than risk a use-after-free;
// destroy owners before draining the loop.
// Threading: loop thread only. Errors: init() returns the libuv error code; nothing throws.
#include <uv.h>

#include <type_traits>
#include <utility>

namespace vpn::net {

template <typename H>
class UvHandle {
 public:
  using OnClosed = void (*)(int arg);

  UvHandle() = default;
  ~UvHandle() { reset(); }
  UvHandle(UvHandle&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      block_ = std::exchange(other.block_, nullptr);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  // Allocates the handle and runs init on it, e.g.
  //   h.init([&](uv_timer_t* t) { return uv_timer_init(&loop, t); });
  // On failure frees the memory (the handle never reached the loop) and returns the error.
  template <typename Init>
  int init(Init&& fn) {
    reset();
    auto* b = new Block{};
    int rc = std::forward<Init>(fn)(&b->handle);
    if (rc < 0) {
      delete b;
      return rc;
    }
    block_ = b;
    return 0;
  }

  // Runs fn(arg) after the handle is fully closed (once, from the close callback).
  void setOnClosed(OnClosed fn, int arg) {
    if (block_ != nullptr) {
      block_->on_closed = fn;
      block_->on_closed_arg = arg;
    }
  }

  H* get() const { return block_ != nullptr ? &block_->handle : nullptr; }
  H* operator->() const { return get(); }
  explicit operator bool() const { return block_ != nullptr; }
  uv_handle_t* raw() const { return reinterpret_cast<uv_handle_t*>(get()); }

  // Closes the handle (see the header comment); safe to call repeatedly.
  void reset() {
    Block* b = std::exchange(block_, nullptr);
    if (b == nullptr) {
      return;
    }
    auto* h = reinterpret_cast<uv_handle_t*>(&b->handle);
    h->data = nullptr;
    if (uv_is_closing(h) != 0) {
      return;  // closed behind our back; see "Lifetime" above
    }
    uv_close(h, &UvHandle::onClose);
  }

 private:
  struct Block {
    H handle;  // first member of a standard-layout struct: uv_handle_t* converts back to Block*
    OnClosed on_closed = nullptr;
    int on_closed_arg = 0;
  };

  static void onClose(uv_handle_t* h) {
    auto* b = reinterpret_cast<Block*>(h);
    if (b->on_closed != nullptr) {
      b->on_closed(b->on_closed_arg);
    }
    delete b;
  }

  static_assert(std::is_standard_layout_v<Block>);

  Block* block_ = nullptr;
};

}  // namespace vpn::net
