// ConfigOption: one option of a program's configuration, named once: its TOML key, its flag,
// its help text, its check, and whether SIGHUP applies it live. A program (tern-httpd,
// tern-proxy, tern-kv) keeps a table of them over its own Config struct (the rows they share:
// server_rows.h); the functions below read a TOML file into a Config through the table (with
// "PATH:LINE:COLUMN: KEY: what is wrong" errors), add the table's flags to a CLI11 app, lay the
// given flags over a Config, and tell which changes a reload applies.
//
//   const std::vector<ConfigOption<MyConfig>>& options();  // the program's table
//   options.push_back(make_option<MyConfig>("section.key", "--key", kOwnFlag, Reload::live,
//                                           "help", [](auto& c) -> auto& { return c.key; },
//                                           at_least(1)));
//
// Included by the programs' config .cc files only (it brings in toml++). CLI11 is only declared
// (cli_app.h): the table's flags are added through add_value_flag, so a program's table does
// not compile CLI11's code again for each of its rows.
// Thread rule: main thread only (start-up and SIGHUP), like the configs it reads.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "cli_app.h"
#include "tern/base/logging.h"

namespace tern::apps {

// Whether SIGHUP applies a changed value (live) or logs it as needing a restart.
enum class Reload { live, restart };

// Whether an option's flag is added by add_server_flags (server_flags.h) or by the table.
inline constexpr bool kSharedFlag = true;
inline constexpr bool kOwnFlag = false;

// One option, named once: TOML key, flag, help, check, reload rule, and how to move its value.
template <class Config>
struct ConfigOption {
  std::string key;   // "section.name" in the TOML file
  std::string flag;  // "--name"
  bool shared_flag;  // added by add_server_flags (server_flags.h), not by add_option_flags
  Reload reload;
  std::string help;
  std::function<std::string(const toml::node&, Config&)> read;  // "" or what is wrong
  std::function<std::string(const Config&)> check;              // "" or what is wrong
  std::function<void(CLI::App&, Config&)> add_flag;             // empty for shared flags
  std::function<void(const Config& from, Config& to)> copy;
  std::function<bool(const Config&, const Config&)> differs;
};

// A value's check: "" when it is good, else what is wrong with it.
template <class T>
using Check = std::function<std::string(const T&)>;

// The type of the field `Access` (a generic lambda returning a reference) picks in a Config.
template <class Config, class Access>
using FieldOf = std::remove_cvref_t<std::invoke_result_t<const Access&, Config&>>;

// The value of `node` as a T, or nullopt with what is wrong with it in `why`.
template <class T>
std::optional<T> toml_value(const toml::node& node, std::string& why) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto* text = node.as_string()) return text->get();
    why = "expected a string";
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto* flag = node.as_boolean()) return flag->get();
    why = "expected true or false";
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto* number = node.as_floating_point()) return static_cast<T>(number->get());
    if (auto* number = node.as_integer()) return static_cast<T>(number->get());
    why = "expected a number";
  } else {
    static_assert(std::is_integral_v<T>);
    auto* number = node.as_integer();
    if (number == nullptr) {
      why = "expected an integer";
      return std::nullopt;
    }
    int64_t value = number->get();
    bool fits = std::is_signed_v<T>
                    ? value >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                          value <= static_cast<int64_t>(std::numeric_limits<T>::max())
                    : value >= 0 && static_cast<uint64_t>(value) <= std::numeric_limits<T>::max();
    if (fits) return static_cast<T>(value);
    why = std::is_signed_v<T> ? "out of range" : "must be a non-negative integer in range";
  }
  return std::nullopt;
}

// The field of a Config an option names, reached from a Config and from a const one. Type-
// erased once per option, so that the option's functions below are compiled once per Config
// and field type, not once per option (a table of 40 rows compiled 200 closures of its own).
template <class Config, class T>
struct Field {
  std::function<T&(Config&)> of;
  std::function<const T&(const Config&)> of_const;
};

// The option of the field `field`; `check` (optional) applies to the file's value, the flag's
// value and the whole config alike.
template <class Config, class T>
ConfigOption<Config> make_field_option(std::string key, std::string flag, bool shared_flag,
                                       Reload reload, std::string help, Field<Config, T> field,
                                       Check<T> check) {
  ConfigOption<Config> option{std::move(key), std::move(flag), shared_flag, reload,
                              std::move(help), {}, {}, {}, {}, {}};
  option.check = [field, check](const Config& config) -> std::string {
    return check ? check(field.of_const(config)) : std::string();
  };
  option.read = [field, check](const toml::node& node, Config& config) -> std::string {
    std::string why;
    auto value = toml_value<T>(node, why);
    if (!value) return why;
    if (check) why = check(*value);
    if (why.empty()) field.of(config) = std::move(*value);
    return why;
  };
  if (!shared_flag) {
    option.add_flag = [field, flag = option.flag, help = option.help](CLI::App& app,
                                                                      Config& config) {
      add_value_flag(app, flag, field.of(config), help);
    };
  }
  option.copy = [field](const Config& from, Config& to) { field.of(to) = field.of_const(from); };
  option.differs = [field](const Config& a, const Config& b) {
    return field.of_const(a) != field.of_const(b);
  };
  return option;
}

// The option whose field `access` picks (a generic lambda returning a reference to it).
template <class Config, class Access>
ConfigOption<Config> make_option(std::string key, std::string flag, bool shared_flag,
                                 Reload reload, std::string help, Access access,
                                 Check<FieldOf<Config, Access>> check = {}) {
  using T = FieldOf<Config, Access>;
  return make_field_option<Config, T>(std::move(key), std::move(flag), shared_flag, reload,
                                      std::move(help), Field<Config, T>{access, access},
                                      std::move(check));
}

// Checks shared by the tables.
template <class T>
Check<T> in_range(T minimum, T maximum) {
  return [minimum, maximum](const T& value) -> std::string {
    if (value >= minimum && value <= maximum) return {};
    return "must be in " + std::to_string(minimum) + ".." + std::to_string(maximum);
  };
}

template <class T>
Check<T> at_least(T minimum) {
  return [minimum](const T& value) -> std::string {
    if (value >= minimum) return {};
    return "must be at least " + std::to_string(minimum);
  };
}

// A name `parse` accepts (or, with `empty_ok`, empty); `names` lists them for the message.
template <class Parse>
Check<std::string> one_of(Parse parse, std::string names, bool empty_ok = false) {
  return [parse, names, empty_ok](const std::string& text) -> std::string {
    if ((empty_ok && text.empty()) || parse(text)) return {};
    return "'" + text + "' is not one of " + names;
  };
}

// The level named "debug", "info", "warn", "error" or "off".
std::optional<LogLevel> parse_log_level(std::string_view name);

// "PATH:LINE:COLUMN" of `where` in the file `path`.
std::string position(const std::string& path, const toml::source_region& where);

// Where a key is in the file: the key's own position when toml++ kept it, else its value's.
const toml::source_region& where_of(const toml::key& name, const toml::node& node);

// Parses `path` into `file`; on failure returns "PATH:LINE:COLUMN: what the parser said".
std::optional<std::string> parse_toml_file(const std::string& path, toml::table& file);


// The option of `options` whose key is `key`, or nullptr.
template <class Config>
const ConfigOption<Config>* find_option(const std::vector<ConfigOption<Config>>& options,
                                        std::string_view key) {
  for (const ConfigOption<Config>& option : options) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

// Reads the value `node` of the file's key `key` (at `name`) into `config` through `option`
// (nullptr: no such option). On failure returns "PATH:LINE:COLUMN: KEY: what is wrong".
template <class Config>
std::optional<std::string> read_option(const std::string& path, const ConfigOption<Config>* option,
                                       const std::string& key, const toml::key& name,
                                       const toml::node& node, Config& config) {
  if (option == nullptr) return position(path, where_of(name, node)) + ": " + key + ": unknown key";
  std::string why = option->read(node, config);
  if (!why.empty()) return position(path, node.source()) + ": " + key + ": " + why;
  return std::nullopt;
}

// Whether some option of `options` has a key in the section `name` ("name.KEY").
template <class Config>
bool is_section(const std::vector<ConfigOption<Config>>& options, std::string_view name) {
  std::string prefix = std::string(name) + ".";
  for (const ConfigOption<Config>& option : options) {
    if (option.key.starts_with(prefix)) return true;
  }
  return false;
}

// Reads every key of `table` (the file's root, or its [section]) into `config` through
// `options`, whose keys are "SECTION.NAME": a root key naming a section must be a table.
template <class Config>
std::optional<std::string> read_sections(const std::string& path,
                                         const std::vector<ConfigOption<Config>>& options,
                                         const toml::table& table, const std::string& section,
                                         Config& config) {
  for (auto&& [name, node] : table) {
    std::string key = section.empty() ? std::string(name.str())
                                      : section + "." + std::string(name.str());
    if (section.empty() && is_section(options, key)) {
      if (!node.is_table()) {
        return position(path, where_of(name, node)) + ": " + key + ": expected a [" + key +
               "] table";
      }
      if (auto error = read_sections(path, options, *node.as_table(), key, config)) return error;
      continue;
    }
    if (auto error = read_option(path, find_option(options, key), key, name, node, config)) {
      return error;
    }
  }
  return std::nullopt;
}

// Reads the TOML file `path` over `config` through `options` (read_sections): every key known,
// every value checked. On failure returns "PATH:LINE:COLUMN: KEY: what is wrong" (or the
// parser's message at its position).
template <class Config>
std::optional<std::string> read_sectioned_file(const std::string& path,
                                               const std::vector<ConfigOption<Config>>& options,
                                               Config& config) {
  toml::table file;
  if (auto error = parse_toml_file(path, file)) return error;
  return read_sections(path, options, file, "", config);
}

// Adds the flag of every option that is not a shared flag, storing into `flags`.
template <class Config>
void add_option_flags(const std::vector<ConfigOption<Config>>& options, CLI::App& app,
                      Config& flags) {
  for (const ConfigOption<Config>& option : options) {
    if (option.add_flag) option.add_flag(app, flags);
  }
}

// Copies into `config` the value of every option whose flag was given on `app`'s command
// line (stored in `flags`), checked. On failure returns false with "--FLAG: what is wrong".
template <class Config>
bool apply_given_flags(const std::vector<ConfigOption<Config>>& options, const CLI::App& app,
                       const Config& flags, Config& config, std::string& why) {
  for (const ConfigOption<Config>& option : options) {
    if (flag_count(app, option.flag) == 0) continue;
    if (std::string bad = option.check(flags); !bad.empty()) {
      why = option.flag + ": " + bad;
      return false;
    }
    option.copy(flags, config);
  }
  return true;
}

// The keys of the options only a restart changes whose values differ between `running` and
// `loaded`, in table order.
template <class Config>
std::vector<std::string> restart_only_keys(const std::vector<ConfigOption<Config>>& options,
                                           const Config& running, const Config& loaded) {
  std::vector<std::string> keys;
  for (const ConfigOption<Config>& option : options) {
    if (option.reload == Reload::restart && option.differs(running, loaded)) {
      keys.push_back(option.key);
    }
  }
  return keys;
}

// `running` with the value of every live option taken from `loaded`.
template <class Config>
Config with_live_options(const std::vector<ConfigOption<Config>>& options, const Config& running,
                         const Config& loaded) {
  Config next = running;
  for (const ConfigOption<Config>& option : options) {
    if (option.reload == Reload::live) option.copy(loaded, next);
  }
  return next;
}

}  // namespace tern::apps
