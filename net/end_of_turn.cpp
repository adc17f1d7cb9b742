#include "net/end_of_turn.hpp"

#include <string>

namespace vpn::net {

EndOfTurn::EndOfTurn(uv_loop_t& loop, std::function<void()> fn) : fn_(std::move(fn)) {
  int rc = check_.init([&](uv_check_t* c) { return uv_check_init(&loop, c); });
  if (rc < 0) {
    throw NetError(std::string("cannot create a check handle: ") + uv_strerror(rc));
  }
  check_->data = this;
}

void EndOfTurn::arm() {
  if (armed_) {
    return;
  }
  int rc = uv_check_start(check_.get(), &EndOfTurn::onCheck);
  armed_ = rc == 0;
  if (!armed_ && fn_) {
    fn_();  // cannot happen with a valid handle; run now rather than never
  }
}

void EndOfTurn::onCheck(uv_check_t* check) {
  auto* self = static_cast<EndOfTurn*>(check->data);
  if (self == nullptr) {
    return;
  }
  uv_check_stop(check);
  self->armed_ = false;
  if (self->fn_) {
    self->fn_();
  }
}

}  // namespace vpn::net
