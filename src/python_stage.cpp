#include "python_stage.hpp"

namespace wf {

const std::string& python_wrapper() {
  static const std::string code = R"PY(
import json, os, sys, traceback

def _wf_write(obj):
    with open(os.environ["WF_PY_RESULT"], "w", encoding="utf-8") as f:
        json.dump(obj, f)

def _wf_main():
    with open(os.environ["WF_PY_INPUT"], encoding="utf-8") as f:
        data = json.load(f)

    class Result:
        def __init__(self):
            self.outputs = {}

    result = Result()
    scope = {"__name__": "__main__", "__builtins__": __builtins__}
    scope.update(data.get("vars") or {})
    scope.update({"params": data["params"], "matrix": data["matrix"],
                  "context": data["context"], "result": result})
    hidden = {"params", "matrix", "context", "result"}
    try:
        exec(compile(data["code"], data["name"], "exec"), scope)
    except SystemExit as e:
        if e.code not in (None, 0):
            _wf_write({"error": {"name": "SystemExit", "message": str(e.code)}})
            sys.stdout.flush()
            os._exit(e.code if isinstance(e.code, int) else 1)
    except BaseException as e:
        traceback.print_exc()
        _wf_write({"error": {"name": type(e).__name__, "message": str(e)}})
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    outputs = {}
    for key, value in scope.items():
        if key.startswith("_") or key in hidden:
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError, OverflowError, RecursionError):
            continue
        outputs[key] = value
    extra = scope["result"].outputs if isinstance(scope.get("result"), Result) else getattr(result, "outputs", {})
    if not isinstance(extra, dict):
        _wf_write({"error": {"name": "TypeError", "message": "result.outputs must be a dict, not " + type(extra).__name__}})
        os._exit(1)
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as e:
        _wf_write({"error": {"name": "TypeError", "message": "result.outputs must be JSON values: " + str(e)}})
        os._exit(1)
    outputs.update(extra)
    _wf_write({"outputs": outputs})

_wf_main()
)PY";
  return code;
}

}  // namespace wf
