package ctrbench.flink.format;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;

/** {@code CTR_INT(text)}: the INT that {@code text} is by the event rule, or NULL (see {@link RuleInteger}). */
public final class CtrInt extends RuleIntegerFunction {

    private static final long serialVersionUID = 1L;

    public CtrInt() {
        super(Integer.MIN_VALUE, Integer.MAX_VALUE);
    }

    public @DataTypeHint("INT") Integer eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData text) {
        Long value = value(text);
        return value == null ? null : value.intValue();
    }
}
