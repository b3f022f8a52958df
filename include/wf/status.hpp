// The one status vocabulary of FORMAT §8, shared by stages, job instances and runs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wf {

enum class Status { Success, Failed, Skip, Cancel, Wait };

std::string to_string(Status s);                       // "SUCCESS", "FAILED", ...
std::optional<Status> parse_status(std::string_view s);  // any case
// needs.<job>.result words: success failure cancelled skipped (Wait -> "").
std::string result_word(Status s);
// FAILED if any failed, else CANCEL if any cancelled, else SKIP if all skipped (or empty),
// else SUCCESS. Wait in the list yields Wait.
Status aggregate(const std::vector<Status>& parts);

}  // namespace wf
