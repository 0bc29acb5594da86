package ctrbench.flink.format;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/** {@code CTR_INT(text)}: the INT that {@code text} is by the event rule, or NULL (see {@link RuleInteger}). */
public final class CtrInt extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private transient RuleInteger.Memo last;

    public @DataTypeHint("INT") Integer eval(String text) {
        RuleInteger.Memo memo = last;
        if (memo == null || memo.text != text) {
            memo = new RuleInteger.Memo(text, RuleInteger.parse(text, Integer.MIN_VALUE, Integer.MAX_VALUE));
            last = memo;
        }
        Long value = memo.value;
        return value == null ? null : value.intValue();
    }
}
