package ctrbench.flink.format;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/** {@code CTR_BIGINT(text)}: the BIGINT that {@code text} is by the event rule, or NULL (see {@link RuleInteger}). */
public final class CtrBigint extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private transient RuleInteger.Memo last;

    public @DataTypeHint("BIGINT") Long eval(String text) {
        RuleInteger.Memo memo = last;
        if (memo == null || memo.text != text) {
            memo = new RuleInteger.Memo(text, RuleInteger.parse(text, Long.MIN_VALUE, Long.MAX_VALUE));
            last = memo;
        }
        Long value = memo.value;
        return value;
    }
}
