package ctrbench.flink.format;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * A SQL function giving the integer that a text is by the event rule ({@link RuleInteger}) within
 * [min, max], or NULL. The functions take Flink's own string data (bridged to {@link StringData}), so no
 * Java String is made for them. Within one record every reference to a column passes the same object
 * (the one the format made), so the last text and its value are kept and an identity check saves all
 * parses but the first.
 */
public abstract class RuleIntegerFunction extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    /** The last text parsed and its value; immutable, so a reader sees a consistent pair. */
    private static final class Memo {
        final StringData text;
        final Long value;

        Memo(StringData text, Long value) {
            this.text = text;
            this.value = value;
        }
    }

    private final long min;
    private final long max;
    private transient Memo last;

    RuleIntegerFunction(long min, long max) {
        this.min = min;
        this.max = max;
    }

    /** The value of {@code text} by the rule, or null. */
    final Long value(StringData text) {
        Memo memo = last;
        if (memo == null || memo.text != text) {
            memo = new Memo(text, RuleInteger.parse(text, min, max));
            last = memo;
        }
        return memo.value;
    }
}
