// The job graph of one workflow: indices of needs and dependents, and cycle detection that
// names the cycle (`a -> b -> c -> a`). Unknown needs are the validator's to report; here
// they are ignored.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "wf/workflow.hpp"

namespace wf {

struct JobGraph {
  std::vector<std::vector<int>> needs;       // job index -> indices it needs (file order)
  std::vector<std::vector<int>> dependents;  // job index -> indices that need it
};

JobGraph build_job_graph(const Workflow& w);
// The first cycle found, as job names with the first repeated at the end.
std::optional<std::vector<std::string>> find_cycle(const Workflow& w, const JobGraph& g);
// Indices of `roots` and everything they need, transitively.
std::vector<bool> with_upstream(const JobGraph& g, const std::vector<int>& roots);

}  // namespace wf
