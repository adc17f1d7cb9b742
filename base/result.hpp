#pragma once
// Result<T, E>: a value or an error, for paths where exceptions are not wanted (the data path,
// parsers of untrusted bytes). Value type; no allocation of its own. Accessing the wrong side is a
// programming error and asserts.
#include <cassert>
#include <utility>
#include <variant>

namespace vpn {

template <typename E>
struct Err {
  E error;
};

template <typename E>
Err<E> err(E e) {
  return Err<E>{std::move(e)};
}

template <typename T, typename E>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Err<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const {
    assert(ok());
    return std::get<0>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

}  // namespace vpn
