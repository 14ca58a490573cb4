/*
 * lexer.c - PromQL tokens, string literals, numbers and durations.
 *
 * Follows Prometheus' lexer (promql/parser/lex.go): keywords and aggregators are recognised
 * case-insensitively outside braces, `inf`/`nan` are numbers, a number directly followed by a
 * unit is a duration ("5m", "1h30m"), `#` starts a comment to the end of the line, and inside
 * {...} every word is a label name.
 */
#include "promql/promql_int.h"
#include "util/duration.h"
#include "util/hex.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void lexer_init(lexer_t *lx, const char *in, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->in = in;
    lx->len = (int)len;
}

static const struct {
    const char *word;
    tok_type_t type;
} keywords[] = {
    { "and", T_AND }, { "or", T_OR }, { "unless", T_UNLESS }, { "atan2", T_ATAN2 },
    { "bool", T_BOOL }, { "by", T_BY }, { "without", T_WITHOUT }, { "on", T_ON },
    { "ignoring", T_IGNORING }, { "group_left", T_GROUP_LEFT }, { "group_right", T_GROUP_RIGHT },
    { "offset", T_OFFSET }, { "start", T_START }, { "end", T_END }, { "step", T_STEP },
    { "range", T_RANGE }, { "anchored", T_ANCHORED }, { "smoothed", T_SMOOTHED },
    { "sum", T_SUM }, { "avg", T_AVG }, { "count", T_COUNT }, { "min", T_MIN }, { "max", T_MAX },
    { "group", T_GROUP }, { "stddev", T_STDDEV }, { "stdvar", T_STDVAR }, { "topk", T_TOPK },
    { "bottomk", T_BOTTOMK }, { "quantile", T_QUANTILE }, { "count_values", T_COUNT_VALUES },
    { "limitk", T_LIMITK }, { "limit_ratio", T_LIMIT_RATIO },
};

bool tok_is_aggregator(tok_type_t t)
{
    return t >= T_SUM && t <= T_LIMIT_RATIO;
}

bool tok_is_keyword(tok_type_t t)
{
    return t >= T_AND && t <= T_LIMIT_RATIO;
}

const char *tok_desc(tok_type_t t)
{
    switch (t) {
    case T_EOF: return "end of input";
    case T_ERROR: return "error";
    case T_IDENT: return "identifier";
    case T_METRIC_IDENT: return "metric identifier";
    case T_NUMBER: return "number";
    case T_DURATION: return "duration";
    case T_STRING: return "string";
    case T_LPAREN: return "\"(\"";
    case T_RPAREN: return "\")\"";
    case T_LBRACE: return "\"{\"";
    case T_RBRACE: return "\"}\"";
    case T_LBRACKET: return "\"[\"";
    case T_RBRACKET: return "\"]\"";
    case T_COMMA: return "\",\"";
    case T_COLON: return "\":\"";
    case T_ASSIGN: return "\"=\"";
    case T_EQLC: return "\"==\"";
    case T_NEQ: return "\"!=\"";
    case T_EQL_REGEX: return "\"=~\"";
    case T_NEQ_REGEX: return "\"!~\"";
    case T_LSS: return "\"<\"";
    case T_GTR: return "\">\"";
    case T_LTE: return "\"<=\"";
    case T_GTE: return "\">=\"";
    case T_ADD: return "\"+\"";
    case T_SUB: return "\"-\"";
    case T_MUL: return "\"*\"";
    case T_DIV: return "\"/\"";
    case T_MOD: return "\"%\"";
    case T_POW: return "\"^\"";
    case T_AT: return "\"@\"";
    case T_AND: return "\"and\"";
    case T_OR: return "\"or\"";
    case T_UNLESS: return "\"unless\"";
    case T_ATAN2: return "\"atan2\"";
    case T_BOOL: return "\"bool\"";
    case T_BY: return "\"by\"";
    case T_WITHOUT: return "\"without\"";
    case T_ON: return "\"on\"";
    case T_IGNORING: return "\"ignoring\"";
    case T_GROUP_LEFT: return "\"group_left\"";
    case T_GROUP_RIGHT: return "\"group_right\"";
    case T_OFFSET: return "\"offset\"";
    case T_START: return "\"start\"";
    case T_END: return "\"end\"";
    case T_STEP: return "\"step\"";
    case T_RANGE: return "\"range\"";
    case T_ANCHORED: return "\"anchored\"";
    case T_SMOOTHED: return "\"smoothed\"";
    default: return "aggregation";
    }
}

static bool is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static bool is_ident_char(int c)
{
    return isalnum(c) || c == '_' || c == ':';
}

static bool is_unit(const char *s, int n, int *ulen)
{
    if (n >= 2 && s[0] == 'm' && s[1] == 's') {
        *ulen = 2;
        return true;
    }
    if (n >= 1 && strchr("smhdwy", s[0]) != NULL && s[0] != '\0') {
        *ulen = 1;
        return true;
    }
    return false;
}

/* Scans a number or duration at lx->pos. */
static token_t scan_number(lexer_t *lx, int start)
{
    const char *s = lx->in;
    int p = start;
    bool hex = false;
    if (s[p] == '0' && p + 1 < lx->len && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
        hex = true;
        p += 2;
        while (p < lx->len && (isxdigit((unsigned char)s[p]) || s[p] == '_'))
            p++;
    } else {
        while (p < lx->len && (isdigit((unsigned char)s[p]) || s[p] == '_'))
            p++;
        if (p < lx->len && s[p] == '.') {
            p++;
            while (p < lx->len && isdigit((unsigned char)s[p]))
                p++;
        }
        if (p < lx->len && (s[p] == 'e' || s[p] == 'E')) {
            int q = p + 1;
            if (q < lx->len && (s[q] == '+' || s[q] == '-'))
                q++;
            if (q < lx->len && isdigit((unsigned char)s[q])) {
                p = q;
                while (p < lx->len && isdigit((unsigned char)s[p]))
                    p++;
            }
        }
    }
    /* A duration: the integer part followed by units ("1h30m"). */
    int ulen;
    if (!hex && p < lx->len && is_unit(s + p, lx->len - p, &ulen)) {
        int q = start;
        bool ok = true;
        while (q < lx->len && isdigit((unsigned char)s[q])) {
            while (q < lx->len && isdigit((unsigned char)s[q]))
                q++;
            if (!is_unit(s + q, lx->len - q, &ulen)) {
                ok = false;
                break;
            }
            q += ulen;
        }
        if (ok && q > start && (q >= lx->len || !(isalnum((unsigned char)s[q]) || s[q] == '_'))) {
            lx->pos = q;
            return (token_t){ T_DURATION, start, q - start, s + start };
        }
        lx->errmsg = "bad number or duration syntax";
        lx->pos = q;
        return (token_t){ T_ERROR, start, q - start, s + start };
    }
    if (p < lx->len && (isalnum((unsigned char)s[p]) || s[p] == '_' || s[p] == '.')) {
        lx->errmsg = "bad number or duration syntax";
        return (token_t){ T_ERROR, start, p - start + 1, s + start };
    }
    lx->pos = p;
    return (token_t){ T_NUMBER, start, p - start, s + start };
}

static token_t scan_string(lexer_t *lx, int start)
{
    char q = lx->in[start];
    int p = start + 1;
    while (p < lx->len && lx->in[p] != q) {
        if (q != '`' && lx->in[p] == '\\' && p + 1 < lx->len)
            p++;
        else if (q != '`' && lx->in[p] == '\n')
            break;
        p++;
    }
    if (p >= lx->len || lx->in[p] != q) {
        lx->errmsg = "unterminated quoted string";
        lx->pos = lx->len;
        return (token_t){ T_ERROR, start, p - start, lx->in + start };
    }
    lx->pos = p + 1;
    return (token_t){ T_STRING, start, p + 1 - start, lx->in + start };
}

token_t lexer_next(lexer_t *lx)
{
    const char *s = lx->in;
    for (;;) {
        while (lx->pos < lx->len && isspace((unsigned char)s[lx->pos]))
            lx->pos++;
        if (lx->pos < lx->len && s[lx->pos] == '#') {
            while (lx->pos < lx->len && s[lx->pos] != '\n')
                lx->pos++;
            continue;
        }
        break;
    }
    int start = lx->pos;
    if (start >= lx->len)
        return (token_t){ T_EOF, start, 0, s + start };
    unsigned char c = (unsigned char)s[start];
    char n = start + 1 < lx->len ? s[start + 1] : '\0';
#define TOK(t, l) do { lx->pos = start + (l); return (token_t){ (t), start, (l), s + start }; } while (0)
    switch (c) {
    case '(': TOK(T_LPAREN, 1);
    case ')': TOK(T_RPAREN, 1);
    case '{': lx->brace_depth++; TOK(T_LBRACE, 1);
    case '}': if (lx->brace_depth > 0) lx->brace_depth--; TOK(T_RBRACE, 1);
    case '[': lx->bracket_depth++; TOK(T_LBRACKET, 1);
    case ']': if (lx->bracket_depth > 0) lx->bracket_depth--; TOK(T_RBRACKET, 1);
    case ',': TOK(T_COMMA, 1);
    case ':':
        if (lx->brace_depth == 0 && lx->bracket_depth == 0 && is_ident_char((unsigned char)n))
            break;  /* a metric name may start with ':' */
        TOK(T_COLON, 1);
    case '+': TOK(T_ADD, 1);
    case '-': TOK(T_SUB, 1);
    case '*': TOK(T_MUL, 1);
    case '/': TOK(T_DIV, 1);
    case '%': TOK(T_MOD, 1);
    case '^': TOK(T_POW, 1);
    case '@': TOK(T_AT, 1);
    case '=':
        if (n == '=') TOK(T_EQLC, 2);
        if (n == '~') TOK(T_EQL_REGEX, 2);
        TOK(T_ASSIGN, 1);
    case '!':
        if (n == '=') TOK(T_NEQ, 2);
        if (n == '~') TOK(T_NEQ_REGEX, 2);
        lx->errmsg = "unexpected character after '!'";
        TOK(T_ERROR, 1);
    case '<':
        if (n == '=') TOK(T_LTE, 2);
        TOK(T_LSS, 1);
    case '>':
        if (n == '=') TOK(T_GTE, 2);
        TOK(T_GTR, 1);
    case '"': case '\'': case '`':
        return scan_string(lx, start);
    default:
        break;
    }
#undef TOK
    if (isdigit(c) || (c == '.' && isdigit((unsigned char)n)))
        return scan_number(lx, start);
    if (is_ident_start(c)) {
        int p = start;
        bool colon = false;
        while (p < lx->len && is_ident_char((unsigned char)s[p])) {
            if (s[p] == ':')
                colon = true;
            p++;
        }
        /* Inside braces and brackets a ':' ends a name (label names have none). */
        if (colon && (lx->brace_depth > 0 || lx->bracket_depth > 0)) {
            p = start;
            while (p < lx->len && (isalnum((unsigned char)s[p]) || s[p] == '_'))
                p++;
            colon = false;
        }
        lx->pos = p;
        int len = p - start;
        token_t t = { colon ? T_METRIC_IDENT : T_IDENT, start, len, s + start };
        if (colon || lx->brace_depth > 0)
            return t;
        if ((len == 3 && (strncasecmp(s + start, "inf", 3) == 0 ||
                          strncasecmp(s + start, "nan", 3) == 0)))
            t.type = T_NUMBER;
        for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
            if (strlen(keywords[i].word) == (size_t)len &&
                strncasecmp(keywords[i].word, s + start, (size_t)len) == 0)
                t.type = keywords[i].type;
        return t;
    }
    lx->errmsg = NULL;
    lx->pos = start + 1;
    return (token_t){ T_ERROR, start, 1, s + start };
}

/* ---- literals ---- */

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Go's strconv.Unquote for "..." and '...' (PromQL allows both for strings) and `...`. */
char *promql_unquote(arena_t *a, const char *s, size_t n)
{
    if (n < 2 || s[n - 1] != s[0])
        return NULL;
    char q = s[0];
    char *out = arena_alloc(a, n * 2 + 1);
    if (out == NULL)
        return NULL;
    size_t k = 0;
    if (q == '`') {
        for (size_t i = 1; i + 1 < n; i++)
            if (s[i] != '\r')
                out[k++] = s[i];
        out[k] = '\0';
        return out;
    }
    for (size_t i = 1; i + 1 < n; i++) {
        char c = s[i];
        if (c == q || c == '\n')
            return NULL;
        if (c != '\\') {
            out[k++] = c;
            continue;
        }
        if (++i + 1 > n - 1)
            return NULL;
        c = s[i];
        switch (c) {
        case 'a': out[k++] = '\a'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'v': out[k++] = '\v'; break;
        case '\\': out[k++] = '\\'; break;
        case '"': case '\'':
            if (c != q)
                return NULL;
            out[k++] = c;
            break;
        case 'x': {
            if (i + 2 >= n - 1 || hex_digit_value(s[i + 1]) < 0 ||
                hex_digit_value(s[i + 2]) < 0)
                return NULL;
            out[k++] = (char)(hex_digit_value(s[i + 1]) * 16 + hex_digit_value(s[i + 2]));
            i += 2;
            break;
        }
        case 'u': case 'U': {
            int digits = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            if (i + (size_t)digits >= n - 1)
                return NULL;
            for (int d = 1; d <= digits; d++) {
                int h = hex_digit_value(s[i + (size_t)d]);
                if (h < 0)
                    return NULL;
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
                return NULL;
            k += put_utf8(out + k, cp);
            i += (size_t)digits;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                if (i + 2 >= n - 1 || s[i + 1] < '0' || s[i + 1] > '7' || s[i + 2] < '0' ||
                    s[i + 2] > '7')
                    return NULL;
                int v = (c - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0');
                if (v > 255)
                    return NULL;
                out[k++] = (char)v;
                i += 2;
                break;
            }
            return NULL;
        }
    }
    out[k] = '\0';
    return out;
}

bool promql_parse_duration(const char *s, size_t n, int64_t *ms)
{
    return duration_parse(s, n, ms) == DURATION_OK;
}

void promql_format_duration(buf_t *b, int64_t ms)
{
    char text[64];
    duration_format(ms, text, sizeof(text));
    buf_puts(b, text);
}

bool promql_parse_number(const char *s, size_t n, double *v)
{
    char tmp[128];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            tmp[k++] = s[i];
    tmp[k] = '\0';
    const char *p = tmp;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (strcasecmp(p, "inf") == 0 || strcasecmp(p, "infinity") == 0) {
        *v = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (strcasecmp(p, "nan") == 0) {
        *v = NAN;
        return true;
    }
    /* Integers first, as Go's strconv.ParseInt(s, 0, 64): 0x hex, 0o/leading-0 octal, 0b. */
    int base = 10;
    const char *digits = p;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        digits = p + 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        digits = p + 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        digits = p + 2;
    } else if (p[0] == '0' && p[1] != '\0' && isdigit((unsigned char)p[1])) {
        base = 8;
        digits = p + 1;
    }
    if (*digits != '\0') {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(digits, &end, base);
        if (*end == '\0' && digits[0] != '-' && digits[0] != '+') {
            if (errno == 0 && u <= (unsigned long long)INT64_MAX) {
                *v = neg ? -(double)u : (double)u;
                return true;
            }
            if (base == 10)
                goto as_float;
            return false;
        }
        if (base != 10 && !(base == 8 && digits == p + 1))
            return false;
    }
as_float:;
    char *end;
    errno = 0;
    double d = strtod(p, &end);
    if (*end != '\0' || end == p || p[0] == 'x' || p[0] == 'X')
        return false;
    /* strtod accepts hex floats and "infinity"; anything else it took is a decimal float. */
    *v = neg ? -d : d;
    return true;
}
