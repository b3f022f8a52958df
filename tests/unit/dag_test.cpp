#include "wf/dag.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

using wf::Job;
using wf::JobGraph;
using wf::Workflow;

namespace {

using Names = std::vector<std::string>;

// A workflow of jobs given as (name, needs) in file order.
Workflow make_workflow(const std::vector<std::pair<std::string, Names>>& jobs) {
  Workflow w;
  w.name = "w";
  for (const auto& [name, needs] : jobs) {
    Job j;
    j.name = name;
    for (const auto& n : needs) j.needs.push_back({n, {}});
    w.jobs.push_back(std::move(j));
  }
  return w;
}

std::vector<int> v(std::initializer_list<int> xs) { return std::vector<int>(xs); }

}  // namespace

TEST_CASE("dag: build_job_graph indexes needs in file order and the dependents of each job") {
  Workflow w = make_workflow({{"extract", {}}, {"transform", {"extract"}}, {"load", {"transform", "extract"}},
                              {"report", {"load"}}});
  JobGraph g = wf::build_job_graph(w);
  REQUIRE(g.needs.size() == 4);
  REQUIRE(g.dependents.size() == 4);
  CHECK(g.needs[0].empty());
  CHECK(g.needs[1] == v({0}));
  CHECK(g.needs[2] == v({1, 0}));
  CHECK(g.needs[3] == v({2}));
  CHECK(g.dependents[0] == v({1, 2}));
  CHECK(g.dependents[1] == v({2}));
  CHECK(g.dependents[2] == v({3}));
  CHECK(g.dependents[3].empty());
}

TEST_CASE("dag: unknown needs are ignored and a need listed twice counts once") {
  Workflow w = make_workflow({{"a", {}}, {"b", {"a", "nope", "a"}}});
  JobGraph g = wf::build_job_graph(w);
  CHECK(g.needs[1] == v({0}));
  CHECK(g.dependents[0] == v({1}));
}

TEST_CASE("dag: an empty workflow has an empty graph and no cycle") {
  Workflow w = make_workflow({});
  JobGraph g = wf::build_job_graph(w);
  CHECK(g.needs.empty());
  CHECK_FALSE(wf::find_cycle(w, g).has_value());
  CHECK(wf::with_upstream(g, {}).empty());
}

TEST_CASE("dag: find_cycle finds nothing in a diamond") {
  Workflow w = make_workflow({{"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b", "c"}}});
  CHECK_FALSE(wf::find_cycle(w, wf::build_job_graph(w)).has_value());
}

TEST_CASE("dag: find_cycle names the cycle along 'needs' with the first name repeated at the end") {
  Workflow w = make_workflow({{"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}});
  auto cycle = wf::find_cycle(w, wf::build_job_graph(w));
  REQUIRE(cycle.has_value());
  CHECK(*cycle == Names{"a", "b", "c", "a"});
}

TEST_CASE("dag: find_cycle leaves out jobs that lead into the cycle but are not on it") {
  Workflow w = make_workflow({{"start", {"x"}}, {"free", {}}, {"x", {"y"}}, {"y", {"x"}}});
  auto cycle = wf::find_cycle(w, wf::build_job_graph(w));
  REQUIRE(cycle.has_value());
  CHECK(*cycle == Names{"x", "y", "x"});
}

TEST_CASE("dag: a job that needs itself is a cycle of one") {
  Workflow w = make_workflow({{"ok", {}}, {"self", {"ok", "self"}}});
  auto cycle = wf::find_cycle(w, wf::build_job_graph(w));
  REQUIRE(cycle.has_value());
  CHECK(*cycle == Names{"self", "self"});
}

TEST_CASE("dag: with_upstream keeps the roots and everything they need, transitively") {
  Workflow w = make_workflow({{"a", {}}, {"b", {"a"}}, {"c", {}}, {"d", {"b"}}, {"e", {"d", "c"}}, {"f", {"a"}}});
  JobGraph g = wf::build_job_graph(w);
  CHECK(wf::with_upstream(g, {3}) == std::vector<bool>{true, true, false, true, false, false});
  CHECK(wf::with_upstream(g, {4}) == std::vector<bool>{true, true, true, true, true, false});
  CHECK(wf::with_upstream(g, {2, 5}) == std::vector<bool>{true, false, true, false, false, true});
  CHECK(wf::with_upstream(g, {}) == std::vector<bool>(6, false));
}

TEST_CASE("dag: with_upstream terminates on a cycle") {
  Workflow w = make_workflow({{"a", {"b"}}, {"b", {"a"}}, {"c", {}}});
  CHECK(wf::with_upstream(wf::build_job_graph(w), {0}) == std::vector<bool>{true, true, false});
}

TEST_CASE("dag: a 10,000-job chain does not overflow the stack") {
  const int n = 10000;
  std::vector<std::pair<std::string, Names>> jobs;
  jobs.reserve(n);
  for (int i = 0; i < n; ++i) {
    Names needs;
    if (i > 0) needs.push_back("j" + std::to_string(i - 1));
    jobs.emplace_back("j" + std::to_string(i), needs);
  }
  // Listed from the end of the chain, so the depth-first walk goes 10,000 deep at once.
  std::vector<std::pair<std::string, Names>> reversed(jobs.rbegin(), jobs.rend());
  Workflow w = make_workflow(reversed);
  JobGraph g = wf::build_job_graph(w);

  SUBCASE("no cycle") {
    CHECK_FALSE(wf::find_cycle(w, g).has_value());
    std::vector<bool> all = wf::with_upstream(g, {0});
    CHECK(std::count(all.begin(), all.end(), true) == n);
    std::vector<bool> last = wf::with_upstream(g, {n - 1});
    CHECK(std::count(last.begin(), last.end(), true) == 1);
  }
  SUBCASE("closing the chain into one big cycle") {
    w.jobs.back().needs.push_back({"j" + std::to_string(n - 1), {}});  // j0 needs j9999
    g = wf::build_job_graph(w);
    auto cycle = wf::find_cycle(w, g);
    REQUIRE(cycle.has_value());
    REQUIRE(cycle->size() == static_cast<std::size_t>(n + 1));
    CHECK(cycle->front() == "j9999");
    CHECK((*cycle)[1] == "j9998");
    CHECK((*cycle)[n - 1] == "j0");
    CHECK(cycle->back() == "j9999");
  }
}
