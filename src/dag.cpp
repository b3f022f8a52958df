#include "wf/dag.hpp"

#include <algorithm>
#include <functional>
#include <string_view>
#include <unordered_map>

namespace wf {

JobGraph build_job_graph(const Workflow& w) {
  JobGraph g;
  g.needs.resize(w.jobs.size());
  g.dependents.resize(w.jobs.size());
  // The first job of each name, as a search in file order would find it.
  std::unordered_map<std::string_view, int> index;
  index.reserve(w.jobs.size());
  for (std::size_t k = 0; k < w.jobs.size(); ++k) index.emplace(w.jobs[k].name, static_cast<int>(k));
  for (std::size_t i = 0; i < w.jobs.size(); ++i) {
    for (const auto& n : w.jobs[i].needs) {
      auto found = index.find(n.job);
      if (found == index.end()) continue;
      const int k = found->second;
      if (std::find(g.needs[i].begin(), g.needs[i].end(), k) == g.needs[i].end()) {
        g.needs[i].push_back(k);
        g.dependents[k].push_back(static_cast<int>(i));
      }
    }
  }
  return g;
}

std::optional<std::vector<std::string>> find_cycle(const Workflow& w, const JobGraph& g) {
  enum { White, Grey, Black };
  std::vector<int> colour(g.needs.size(), White);
  std::vector<int> stack;
  std::optional<std::vector<std::string>> found;
  // Iterative DFS so that a 100,000-job chain cannot overflow the C++ stack.
  for (std::size_t start = 0; start < g.needs.size() && !found; ++start) {
    if (colour[start] != White) continue;
    std::vector<std::pair<int, std::size_t>> frames{{static_cast<int>(start), 0}};
    colour[start] = Grey;
    stack.assign(1, static_cast<int>(start));
    while (!frames.empty() && !found) {
      auto& [node, next] = frames.back();
      if (next < g.needs[node].size()) {
        int m = g.needs[node][next++];
        if (colour[m] == Grey) {
          auto it = std::find(stack.begin(), stack.end(), m);
          std::vector<std::string> names;
          for (; it != stack.end(); ++it) names.push_back(w.jobs[*it].name);
          names.push_back(w.jobs[m].name);
          found = names;
        } else if (colour[m] == White) {
          colour[m] = Grey;
          stack.push_back(m);
          frames.emplace_back(m, 0);
        }
      } else {
        colour[node] = Black;
        stack.pop_back();
        frames.pop_back();
      }
    }
  }
  return found;
}

std::vector<bool> with_upstream(const JobGraph& g, const std::vector<int>& roots) {
  std::vector<bool> keep(g.needs.size(), false);
  std::vector<int> todo = roots;
  while (!todo.empty()) {
    int j = todo.back();
    todo.pop_back();
    if (keep[j]) continue;
    keep[j] = true;
    for (int n : g.needs[j]) todo.push_back(n);
  }
  return keep;
}

}  // namespace wf
