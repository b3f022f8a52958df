// Error values and Result<T>, the way every expected failure travels in wf.
// Only main() turns an Error into an exit code; library code returns Results and never exits.
// Source positions let loader, validator and expression errors point at file:line:col.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace wf {

// A place in a source file; line and col are 1-based, 0 means unknown.
struct SourcePos {
  std::string file;
  int line = 0;
  int col = 0;
};

// Why something failed. `name` is the user-visible error class recorded for stages
// (ShellError, TemplateError, ...); it may be empty for plain CLI errors.
struct Error {
  std::string message;
  std::string name;
  std::optional<SourcePos> pos;

  Error() = default;
  explicit Error(std::string msg, std::string err_name = {}, std::optional<SourcePos> where = {})
      : message(std::move(msg)), name(std::move(err_name)), pos(std::move(where)) {}
};

// Either a value or an Error; a small stand-in for std::expected (not in g++ 12).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error& error() { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)) {}

  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *err_; }
  Error& error() { return *err_; }

 private:
  std::optional<Error> err_;
};

inline Result<void> ok() { return {}; }

}  // namespace wf
