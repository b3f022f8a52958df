#include "commands.hpp"
#include "wf/matrix.hpp"
#include "wf/validate.hpp"

namespace wf::cli {

namespace {

struct GraphArgs {
  std::string target;
  std::string name;
  std::string format = "mermaid";
};

// Node ids safe for both mermaid and dot.
std::string node_id(const std::string& name) {
  std::string id = "j_";
  for (char c : name) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return id;
}

std::string quote_label(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\n') out += " ";
    else out += c;
  }
  return out + "\"";
}

// The legs of a static matrix, or a note when the matrix is computed at run time.
std::vector<std::string> leg_labels(const Job& j) {
  if (!j.strategy.is_object()) return {};
  if (json_text(j.strategy).find("${{") != std::string::npos) return {"(matrix computed at run time)"};
  Json matrix = j.strategy.value("matrix", Json::object());
  auto parts = split_matrix(matrix.is_object() ? matrix : Json::object(), j.matrix_keys,
                            j.strategy.value("include", Json::array()), j.strategy.value("exclude", Json::array()));
  if (!parts.ok()) return {};
  auto legs = expand_matrix(*parts, 100000);
  if (!legs.ok()) return {};
  std::vector<std::string> out;
  for (const auto& leg : *legs) out.push_back(leg_display_name(j.name, leg, matrix_key_order(*parts)));
  return out;
}

int graph_command(Globals& g, const GraphArgs& a) {
  DiagnosticList diags;
  auto chosen = choose_workflow(g, a.target, a.name, diags);
  if (!chosen.ok()) return fail(kUsage, chosen.error().message);
  if (!chosen->workflow) {
    print_diagnostics(diags, g, Severity::Error);
    return kUsage;
  }
  const Workflow& w = *chosen->workflow;
  validate_workflow(w, diags);
  if (diags.has_errors()) {
    print_diagnostics(diags, g, Severity::Error);
    return kUsage;
  }
  bool dot = a.format == "dot";
  std::printf(dot ? "digraph %s {\n  rankdir=LR;\n" : "flowchart LR\n", quote_label(w.name).c_str());
  for (const auto& j : w.jobs) {
    auto legs = leg_labels(j);
    std::string label = j.name;
    for (const auto& l : legs) label += (dot ? "\\n" : "<br/>") + l;
    if (dot) std::printf("  %s [label=%s shape=box];\n", node_id(j.name).c_str(), quote_label(label).c_str());
    else std::printf("  %s[%s]\n", node_id(j.name).c_str(), quote_label(label).c_str());
  }
  for (const auto& j : w.jobs)
    for (const auto& n : j.needs) {
      if (dot) std::printf("  %s -> %s;\n", node_id(n.job).c_str(), node_id(j.name).c_str());
      else std::printf("  %s --> %s\n", node_id(n.job).c_str(), node_id(j.name).c_str());
    }
  if (dot) std::printf("}\n");
  return kOk;
}

}  // namespace

Command add_graph(CLI::App& app, Globals& g) {
  auto a = std::make_shared<GraphArgs>();
  Command c;
  c.app = app.add_subcommand("graph", "Print the job graph (matrix legs shown) as mermaid or dot");
  c.app->add_option("target", a->target, "Workflow file or workflow name")->required()->type_name("FILE|NAME");
  c.app->add_option("workflow", a->name, "Which workflow of FILE, when it holds several")->type_name("WORKFLOW");
  c.app->add_option("--format", a->format, "mermaid (default) or dot")
      ->check(CLI::IsMember({"mermaid", "dot"}))
      ->type_name("FORMAT");
  c.run = [a, &g] { return graph_command(g, *a); };
  return c;
}

}  // namespace wf::cli
