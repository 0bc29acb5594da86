package ctrbench.flink.format;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;

/** {@code CTR_BIGINT(text)}: the BIGINT that {@code text} is by the event rule, or NULL (see {@link RuleInteger}). */
public final class CtrBigint extends RuleIntegerFunction {

    private static final long serialVersionUID = 1L;

    public CtrBigint() {
        super(Long.MIN_VALUE, Long.MAX_VALUE);
    }

    public @DataTypeHint("BIGINT") Long eval(
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData text) {
        return value(text);
    }
}
