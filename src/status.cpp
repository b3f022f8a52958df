// Status words and the aggregation rule of FORMAT §8.
#include "wf/status.hpp"

#include <array>
#include <cctype>

namespace wf {

namespace {

constexpr std::array<Status, 5> kAll = {Status::Success, Status::Failed, Status::Skip,
                                        Status::Cancel, Status::Wait};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto ca = static_cast<unsigned char>(a[i]);
    auto cb = static_cast<unsigned char>(b[i]);
    if (std::toupper(ca) != std::toupper(cb)) return false;
  }
  return true;
}

}  // namespace

std::string to_string(Status s) {
  switch (s) {
    case Status::Success: return "SUCCESS";
    case Status::Failed: return "FAILED";
    case Status::Skip: return "SKIP";
    case Status::Cancel: return "CANCEL";
    case Status::Wait: return "WAIT";
  }
  return "WAIT";
}

std::optional<Status> parse_status(std::string_view s) {
  for (Status candidate : kAll) {
    if (equals_ignoring_case(s, to_string(candidate))) return candidate;
  }
  return std::nullopt;
}

std::string result_word(Status s) {
  switch (s) {
    case Status::Success: return "success";
    case Status::Failed: return "failure";
    case Status::Cancel: return "cancelled";
    case Status::Skip: return "skipped";
    case Status::Wait: return "";
  }
  return "";
}

// A part still waiting means the whole is not decided yet, so Wait wins over everything.
Status aggregate(const std::vector<Status>& parts) {
  bool failed = false, cancelled = false, all_skipped = true;
  for (Status p : parts) {
    if (p == Status::Wait) return Status::Wait;
    failed = failed || p == Status::Failed;
    cancelled = cancelled || p == Status::Cancel;
    all_skipped = all_skipped && p == Status::Skip;
  }
  if (failed) return Status::Failed;
  if (cancelled) return Status::Cancel;
  if (all_skipped) return Status::Skip;
  return Status::Success;
}

}  // namespace wf
