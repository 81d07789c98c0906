package metrics_replay;

import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.Arrays;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF2;

/**
 * The Spark job's reader of the producer's own message layout (include/spark_job.py, parse_values): one pass over a
 * value's bytes instead of Spark expressions that split, rebuild and match its text (at 100x those were most of the
 * job's read stages; bench/).
 *
 * <p>{@code call(value, layout)}: {@code layout} is {@code "s1,s2,...;m1,m2,...;t"}: the string fields in the order
 * the producer writes them, every metric name a value may hold, and the string field that holds the event time
 * (include/contract.py writes them; the job passes them as a literal). A value is in the layout when it is exactly
 * {@code {"s1": "T1", "s2": "T2", ..., "M": N}} or {@code {... , "M": N, "M2": N2}}: the string fields in order,
 * with one space after each colon and comma, each text without a quote, a backslash or a control character (so
 * nothing in it is escaped), one or two different metric names, each N a JSON number (RFC 8259) but the integer
 * {@code -0}. Then it returns a row of the strings' texts (UTF-8 bytes), each metric's number text (null for a metric
 * the value does not hold), and the event time's epoch second when its text is exactly {@code yyyy-MM-ddTHH:mm:ssZ}
 * and a valid UTC date-time (null otherwise: the job casts the text then, as Spark casts it). The job casts the
 * texts as from_json would parse them. For every other value it returns null, and the job parses that value with
 * from_json. A string's bytes are its own when ASCII; otherwise decoded and encoded again, as Spark's string
 * functions and from_json read it (a malformed UTF-8 sequence becomes U+FFFD).
 */
public final class ProducedLayout implements UDF2<byte[], String, Row> {
    private static final long serialVersionUID = 1L;

    private transient String configured;
    private transient byte[][] stringKeys;  // '{"s1": "', '", "s2": "', ...
    private transient byte[][] metricNames;
    private transient int timeField;

    private void configure(String layout) {
        String[] parts = layout.split(";", -1);
        if (parts.length != 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new IllegalArgumentException("layout is not 'strings;metrics;time field': " + layout);
        }
        String[] strings = parts[0].split(",");
        timeField = Arrays.asList(strings).indexOf(parts[2]);
        if (timeField < 0) {
            throw new IllegalArgumentException("the time field is not one of the strings: " + layout);
        }
        stringKeys = new byte[strings.length][];
        for (int i = 0; i < strings.length; i++) {
            stringKeys[i] = ((i == 0 ? "{\"" : "\", \"") + strings[i] + "\": \"").getBytes(StandardCharsets.UTF_8);
        }
        String[] metrics = parts[1].split(",");
        metricNames = new byte[metrics.length][];
        for (int i = 0; i < metrics.length; i++) {
            metricNames[i] = metrics[i].getBytes(StandardCharsets.UTF_8);
        }
        configured = layout;
    }

    @Override
    public Row call(byte[] value, String layout) {
        if (value == null) {
            return null;
        }
        if (!layout.equals(configured)) {
            configure(layout);
        }
        int strings = stringKeys.length;
        Object[] out = new Object[strings + metricNames.length + 1];
        int at = 0;
        int end = value.length;
        for (int i = 0; i < strings; i++) {
            if (!startsWith(value, at, stringKeys[i])) {
                return null;
            }
            at += stringKeys[i].length;
            int from = at;
            boolean ascii = true;
            while (at < end) {
                byte b = value[at];
                if (b == '"') {
                    break;
                }
                if (b == '\\' || (b >= 0 && b < 0x20)) {
                    return null;  // escaped text: from_json's
                }
                ascii &= b >= 0;
                at++;
            }
            if (at == end) {
                return null;
            }
            out[i] = ascii ? Arrays.copyOfRange(value, from, at)
                    : new String(value, from, at - from, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8);
        }
        out[out.length - 1] = utcSeconds((byte[]) out[timeField]);
        // at: the closing quote of the last string, then '", "M": N' once or twice, then '}'
        int first = -1;
        for (int m = 0; m < 2; m++) {
            if (!startsWith(value, at, m == 0 ? QUOTE_COMMA_QUOTE : COMMA_QUOTE)) {
                return null;
            }
            at += m == 0 ? QUOTE_COMMA_QUOTE.length : COMMA_QUOTE.length;
            int metric = metricAt(value, at);
            if (metric < 0 || metric == first) {
                return null;
            }
            at += metricNames[metric].length;
            if (!startsWith(value, at, QUOTE_COLON)) {
                return null;
            }
            at += QUOTE_COLON.length;
            int number = numberEnd(value, at);
            if (number < 0 || (number - at == 2 && value[at] == '-' && value[at + 1] == '0')) {
                return null;
            }
            out[strings + metric] = Arrays.copyOfRange(value, at, number);
            at = number;
            if (at == end - 1 && value[at] == '}') {
                return RowFactory.create(out);
            }
            first = metric;
        }
        return null;
    }

    private static final byte[] QUOTE_COMMA_QUOTE = "\", \"".getBytes(StandardCharsets.UTF_8);
    private static final byte[] COMMA_QUOTE = ", \"".getBytes(StandardCharsets.UTF_8);
    private static final byte[] QUOTE_COLON = "\": ".getBytes(StandardCharsets.UTF_8);

    private static boolean startsWith(byte[] value, int at, byte[] prefix) {
        return value.length - at >= prefix.length
                && Arrays.equals(value, at, at + prefix.length, prefix, 0, prefix.length);
    }

    private int metricAt(byte[] value, int at) {
        for (int i = 0; i < metricNames.length; i++) {
            byte[] name = metricNames[i];
            if (startsWith(value, at, name) && value.length > at + name.length && value[at + name.length] == '"') {
                return i;
            }
        }
        return -1;
    }

    /** The epoch second of {@code yyyy-MM-ddTHH:mm:ssZ} when it is a valid date-time, else null. */
    static Long utcSeconds(byte[] t) {
        if (t.length != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':'
                || t[19] != 'Z') {
            return null;
        }
        int year = number(t, 0, 4);
        int month = number(t, 5, 2);
        int day = number(t, 8, 2);
        int hour = number(t, 11, 2);
        int minute = number(t, 14, 2);
        int second = number(t, 17, 2);
        if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59
                || second < 0 || second > 59 || day > YearMonth.of(year, month).lengthOfMonth()) {
            return null;
        }
        return LocalDate.of(year, month, day).toEpochDay() * 86400L + hour * 3600L + minute * 60L + second;
    }

    private static int number(byte[] t, int at, int digits) {
        int n = 0;
        for (int i = at; i < at + digits; i++) {
            if (t[i] < '0' || t[i] > '9') {
                return -1;
            }
            n = n * 10 + (t[i] - '0');
        }
        return n;
    }

    /** Where the JSON number starting at {@code at} ends (RFC 8259's grammar), or -1 when none starts there. */
    static int numberEnd(byte[] value, int at) {
        int end = value.length;
        if (at < end && value[at] == '-') {
            at++;
        }
        if (at >= end) {
            return -1;
        }
        if (value[at] == '0') {
            at++;
        } else if (value[at] >= '1' && value[at] <= '9') {
            at = digits(value, at);
        } else {
            return -1;
        }
        if (at < end && value[at] == '.') {
            int from = at + 1;
            at = digits(value, from);
            if (at == from) {
                return -1;
            }
        }
        if (at < end && (value[at] == 'e' || value[at] == 'E')) {
            at++;
            if (at < end && (value[at] == '+' || value[at] == '-')) {
                at++;
            }
            int from = at;
            at = digits(value, from);
            if (at == from) {
                return -1;
            }
        }
        return at;
    }

    private static int digits(byte[] value, int at) {
        while (at < value.length && value[at] >= '0' && value[at] <= '9') {
            at++;
        }
        return at;
    }
}
