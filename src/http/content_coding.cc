#include "content_coding.h"

#include "field_rules.h"
#include "tern/http/message.h"

namespace tern::http {
namespace {

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ): zero if it starts with '0'
// and has no non-zero digit. A malformed weight is treated as acceptable (the coding was named).
bool weight_is_zero(std::string_view q) noexcept {
  if (q.empty() || q.front() != '0') return false;
  for (char c : q.substr(1)) {
    if (c != '.' && c != '0') return false;
  }
  return true;
}

// The parameters after the coding's name: ";q=0.5" -> acceptable unless q is zero.
bool acceptable(std::string_view parameters) noexcept {
  while (!parameters.empty()) {
    size_t semicolon = parameters.find(';');
    std::string_view parameter = rules::trim_ows(parameters.substr(0, semicolon));
    parameters = semicolon == std::string_view::npos ? std::string_view{}
                                                     : parameters.substr(semicolon + 1);
    size_t equals = parameter.find('=');
    if (equals == std::string_view::npos) continue;
    if (iequals(rules::trim_ows(parameter.substr(0, equals)), "q")) {
      return !weight_is_zero(rules::trim_ows(parameter.substr(equals + 1)));
    }
  }
  return true;
}

bool names_coding(std::string_view name, std::string_view coding) noexcept {
  if (iequals(name, coding)) return true;
  return iequals(coding, "gzip") && iequals(name, "x-gzip");
}

}  // namespace

bool accepts_coding(std::string_view accept_encoding, std::string_view coding) noexcept {
  int wildcard = -1;  // -1: no "*"; 0: "*;q=0"; 1: "*" acceptable
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    size_t semicolon = item.find(';');
    std::string_view name = rules::trim_ows(item.substr(0, semicolon));
    std::string_view parameters =
        semicolon == std::string_view::npos ? std::string_view{} : item.substr(semicolon + 1);
    if (names_coding(name, coding)) return acceptable(parameters);
    if (name == "*") wildcard = acceptable(parameters) ? 1 : 0;
  }
  return wildcard == 1;
}

}  // namespace tern::http
