// HTTP dates: formatting by hand (strftime depends on the locale), parsing the three forms of
// RFC 9110 5.6.7.
#include "tern/http/date.h"

#include <cstring>
#include <ctime>

namespace tern::http {
namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void two_digits(char* out, int value) noexcept {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

int month_of(std::string_view name) noexcept {
  for (int i = 0; i < 12; ++i) {
    if (name == kMonths[i]) return i;
  }
  return -1;
}

bool digits(std::string_view text, int& value) noexcept {
  if (text.empty()) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

// "08:49:37"
bool clock_time(std::string_view text, std::tm& tm) noexcept {
  return text.size() == 8 && text[2] == ':' && text[5] == ':' &&
         digits(text.substr(0, 2), tm.tm_hour) && digits(text.substr(3, 2), tm.tm_min) &&
         digits(text.substr(6, 2), tm.tm_sec) && tm.tm_hour < 24 && tm.tm_min < 60 &&
         tm.tm_sec < 61;
}

std::optional<std::time_t> to_time(std::tm& tm) noexcept {
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_mon < 0) return std::nullopt;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return t;
}

}  // namespace

void format_http_date(std::time_t seconds, char* out) noexcept {
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  std::memcpy(out, kDays[tm.tm_wday], 3);
  out[3] = ',';
  out[4] = ' ';
  two_digits(out + 5, tm.tm_mday);
  out[7] = ' ';
  std::memcpy(out + 8, kMonths[tm.tm_mon], 3);
  out[11] = ' ';
  int year = tm.tm_year + 1900;
  two_digits(out + 12, year / 100 % 100);
  two_digits(out + 14, year % 100);
  out[16] = ' ';
  two_digits(out + 17, tm.tm_hour);
  out[19] = ':';
  two_digits(out + 20, tm.tm_min);
  out[22] = ':';
  two_digits(out + 23, tm.tm_sec);
  std::memcpy(out + 25, " GMT", 4);
}

std::string format_http_date(std::time_t seconds) {
  std::string text(kHttpDateLength, ' ');
  format_http_date(seconds, text.data());
  return text;
}

std::optional<std::time_t> parse_http_date(std::string_view text) noexcept {
  std::tm tm{};
  if (text.size() == kHttpDateLength && text[3] == ',') {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (text[4] != ' ' || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
        text.substr(25) != " GMT") {
      return std::nullopt;
    }
    int year = 0;
    if (!digits(text.substr(5, 2), tm.tm_mday) || !digits(text.substr(12, 4), year) ||
        !clock_time(text.substr(17, 8), tm)) {
      return std::nullopt;
    }
    tm.tm_mon = month_of(text.substr(8, 3));
    tm.tm_year = year - 1900;
    return to_time(tm);
  }
  if (size_t comma = text.find(", "); comma != std::string_view::npos && comma > 3) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (a two-digit year: 70-99 in the 1900s)
    std::string_view rest = text.substr(comma + 2);
    if (rest.size() != 22 || rest[2] != '-' || rest[6] != '-' || rest[9] != ' ' ||
        rest.substr(18) != " GMT") {
      return std::nullopt;
    }
    int year = 0;
    if (!digits(rest.substr(0, 2), tm.tm_mday) || !digits(rest.substr(7, 2), year) ||
        !clock_time(rest.substr(10, 8), tm)) {
      return std::nullopt;
    }
    tm.tm_mon = month_of(rest.substr(3, 3));
    tm.tm_year = year < 70 ? year + 100 : year;
    return to_time(tm);
  }
  if (text.size() == 24 && text[3] == ' ') {
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (text[7] != ' ' || text[10] != ' ' || text[19] != ' ') return std::nullopt;
    std::string_view day = text.substr(8, 2);
    if (day[0] == ' ') day.remove_prefix(1);
    int year = 0;
    if (!digits(day, tm.tm_mday) || !clock_time(text.substr(11, 8), tm) ||
        !digits(text.substr(20, 4), year)) {
      return std::nullopt;
    }
    tm.tm_mon = month_of(text.substr(4, 3));
    tm.tm_year = year - 1900;
    return to_time(tm);
  }
  return std::nullopt;
}

std::string_view current_date() noexcept {
  struct Cache {
    std::time_t second = -1;
    char text[kHttpDateLength];
  };
  thread_local Cache cache;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  if (now.tv_sec != cache.second) {
    cache.second = now.tv_sec;
    format_http_date(now.tv_sec, cache.text);
  }
  return std::string_view(cache.text, kHttpDateLength);
}

}  // namespace tern::http
