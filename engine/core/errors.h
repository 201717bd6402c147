#pragma once
#include <stdexcept>
#include <string>

namespace featjnd {

// An error caused by the user's input (a spec, a file, a flag). The CLI prints its message as
// one line on stderr and exits non-zero; it never carries a stack of internal details.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace featjnd
