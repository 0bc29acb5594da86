package ctrbench.flink.format;

import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * A SQL function giving the integer that a text is by the event rule ({@link RuleInteger}) within
 * [min, max], or NULL. The functions take Flink's own string data (bridged to {@link StringData}), so no
 * Java String is made for them. Within one generated operator every reference to a column passes the
 * same object per record (Flink copies an input field once and reuses it), so the last text and its
 * value are kept and an identity check saves all parses but the first.
 */
public abstract class RuleIntegerFunction extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private final long min;
    private final long max;

    // The last text parsed and its value. A function instance belongs to one operator instance, which
    // one task thread runs, so two plain fields suffice (and nothing is allocated per record).
    private transient StringData lastText;
    private transient Long lastValue;

    RuleIntegerFunction(long min, long max) {
        this.min = min;
        this.max = max;
    }

    /** The value of {@code text} by the rule, or null. */
    final Long value(StringData text) {
        if (text != lastText || text == null) {
            lastValue = RuleInteger.parse(text, min, max);
            lastText = text;
        }
        return lastValue;
    }
}
