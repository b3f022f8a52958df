#include <doctest/doctest.h>
#include <iostream>
#include "wf/yaml_loader.hpp"
#include "wf/validate.hpp"
using namespace wf;
static WorkflowFile dump(const char* name, const std::string& text, bool validate = true) {
  DiagnosticList d;
  auto f = load_workflow_text("w.yaml", text, d);
  if (validate) for (auto& w : f.workflows) validate_workflow(w, d);
  std::cout << "=== " << name << " (" << f.workflows.size() << " wf)\n";
  for (auto& x : d.sorted()) std::cout << d.format(x);
  return f;
}
TEST_CASE("probe") {
  auto f = dump("pos", "w:\n  type: Workflow\n  jobs:\n    a:\n      stages:\n        - name: s\n          bash: |\n            echo hi\n        - name: \"q\"\n          raise: 'boom'\n        - name: t\n          echo: >-\n            a\n            b\n");
  for (auto& s : f.workflows[0].jobs[0].stages) {
    std::cout << s.name->pos.line << ":" << s.name->pos.col << " stage " << s.pos.line << ":" << s.pos.col;
    if (s.kind == StageKind::Bash) std::cout << " bash " << s.bash.pos.line << ":" << s.bash.pos.col << " [" << s.bash.value << "]";
    if (s.kind == StageKind::Raise) std::cout << " raise " << s.raise.pos.line << ":" << s.raise.pos.col;
    if (s.echo) std::cout << " echo " << s.echo->pos.line << ":" << s.echo->pos.col << " [" << s.echo->value << "]";
    std::cout << "\n";
  }
  dump("keys", "w:\n  type: Workflow\n  dsec: x\n  max_job_parallel: 2\n  x-foo: 1\n  jobs:\n    a:\n      need: [b]\n      trigger_rule: one-success\n      stages:\n        - name: s\n          bash: echo\n          shel: sh\n        - name: r\n          run: print(1)\n          bash: x\n        - name: d\n          image: ubuntu\n        - echo hi\n        - echo: hi\n    b:\n      runs-on: docker\n      stages: []\n");
  dump("scalars", "w:\n  type: Workflow\n  timeout: 0\n  max-job-parallel: yes\n  params:\n    a: strng\n    b: boool\n    c: {type: int, required: yes}\n    d: {type: choice}\n    e: {type: str, options: [a]}\n    f: {typ: str}\n  jobs:\n    a:\n      continue-on-error: on\n      trigger-rule: all_sucess\n      stages:\n        - name: s\n          echo: hi\n");
  dump("empty", "");
  dump("comments", "# just a comment\n");
  dump("notwf", "a:\n  type: Schedule\nb:\n  desc: x\nc: 5\n");
  dump("top-noname", "type: Workflow\njobs: {}\n");
  dump("bad", "w: [\n");
  dump("list", "- a\n- b\n");
  dump("nojobs", "w:\n  type: Workflow\n");
  auto r = parse_yaml_map("a: 1\nb: on\nc: True\nd: ~\ne: 0x1f\nf: 1.5\ng: '1'\nh: [1, yes]\n", "p.yaml");
  std::cout << r->dump() << "\n";
  auto r2 = parse_yaml_map("[1]", "p.yaml"); std::cout << r2.error().message << "\n";
  auto r3 = parse_yaml_map("a: [", "p.yaml"); std::cout << r3.error().message << "\n";
  auto r4 = parse_yaml_map("{\"a\": {\"b\": null}}", "p.json"); std::cout << r4->dump() << "\n";
  auto r5 = parse_yaml_map("", "p.json"); std::cout << r5->dump() << "\n";
}
