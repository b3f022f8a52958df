#include "wf/status.hpp"

#include <doctest/doctest.h>

using wf::Status;

TEST_CASE("status: to_string and parse_status round-trip every status") {
  const std::vector<std::pair<Status, std::string>> words = {
      {Status::Success, "SUCCESS"}, {Status::Failed, "FAILED"}, {Status::Skip, "SKIP"},
      {Status::Cancel, "CANCEL"},   {Status::Wait, "WAIT"}};
  for (const auto& [status, word] : words) {
    CHECK(wf::to_string(status) == word);
    CHECK(wf::parse_status(word) == status);
  }
}

TEST_CASE("status: parse_status ignores case and rejects other words") {
  CHECK(wf::parse_status("failed") == Status::Failed);
  CHECK(wf::parse_status("Cancel") == Status::Cancel);
  CHECK(wf::parse_status("sUcCeSs") == Status::Success);
  CHECK(wf::parse_status("skip") == Status::Skip);
  CHECK(wf::parse_status("wait") == Status::Wait);
  CHECK_FALSE(wf::parse_status("").has_value());
  CHECK_FALSE(wf::parse_status("FAILURE").has_value());
  CHECK_FALSE(wf::parse_status("cancelled").has_value());
  CHECK_FALSE(wf::parse_status(" SUCCESS").has_value());
  CHECK_FALSE(wf::parse_status("SUCCESSX").has_value());
}

TEST_CASE("status: result_word gives the needs.<job>.result words") {
  CHECK(wf::result_word(Status::Success) == "success");
  CHECK(wf::result_word(Status::Failed) == "failure");
  CHECK(wf::result_word(Status::Cancel) == "cancelled");
  CHECK(wf::result_word(Status::Skip) == "skipped");
  CHECK(wf::result_word(Status::Wait) == "");
}

TEST_CASE("status: aggregate follows FORMAT 8") {
  using S = Status;
  CHECK(wf::aggregate({}) == S::Skip);
  CHECK(wf::aggregate({S::Success}) == S::Success);
  CHECK(wf::aggregate({S::Success, S::Skip}) == S::Success);
  CHECK(wf::aggregate({S::Skip, S::Skip}) == S::Skip);
  CHECK(wf::aggregate({S::Success, S::Failed, S::Cancel}) == S::Failed);
  CHECK(wf::aggregate({S::Cancel, S::Failed}) == S::Failed);
  CHECK(wf::aggregate({S::Success, S::Cancel, S::Skip}) == S::Cancel);
  CHECK(wf::aggregate({S::Skip, S::Cancel}) == S::Cancel);
  CHECK(wf::aggregate({S::Wait}) == S::Wait);
  CHECK(wf::aggregate({S::Success, S::Wait}) == S::Wait);
  CHECK(wf::aggregate({S::Failed, S::Wait}) == S::Wait);
  CHECK(wf::aggregate({S::Wait, S::Cancel, S::Skip}) == S::Wait);
}
