// A small data-driven test format for text scripts (in the spirit of etcd's datadriven):
//
//   # comment
//   command arg key=value key=(v1,v2)
//   ----
//   expected output, up to the first blank line
//
//   another-command
//   ----
//   ----
//   expected output that contains blank lines,
//
//   closed by two separator lines
//   ----
//   ----
//
// RunScript runs every command through a handler and compares its output with the expected one;
// it also renders the script with the actual outputs in place (the rewrite), so that a
// behaviour change can be accepted by writing that back and reviewed as a diff.
//
// Test support only; pure (reading and writing files is the caller's business).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace kvd::raft::testing {

struct CmdArg {
  std::string key;
  std::vector<std::string> vals;  // empty for a bare word; ("a") for key=a; (a, b) for key=(a,b)
};

struct TestCase {
  int line = 0;         // line of the command in the script (1-based)
  std::string command;  // the command line as written
  std::string name;     // its first word
  std::vector<CmdArg> args;
  std::string expected;  // expected output, each line ending in '\n'

  // The first arg with this key, or nullptr.
  const CmdArg* Find(const std::string& key) const;
};

struct ScriptResult {
  std::vector<std::string> failures;  // one readable message per mismatching (or bad) case
  std::string rewritten;              // the script with every expected output replaced
};

// Parses a command line into name and args. Returns false (with *error set) on bad syntax.
bool ParseCommand(const std::string& line, TestCase* tc, std::string* error);

// Runs every case of `script` through `run`, which returns the actual output (each line ending
// in '\n'; an empty output is shown as "ok").
ScriptResult RunScript(const std::string& script, const std::string& script_name,
                       const std::function<std::string(const TestCase&)>& run);

}  // namespace kvd::raft::testing
