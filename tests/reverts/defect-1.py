# Defect 1: a resumed buy's cost subtracted again from the cash read after its fill.
p='lib/trading/src/orders/engine.rs'
s=open(p).read()
old='''            for record in records[sell_count..].iter().filter(|r| r.status.is_open()) {
                let open = record.qty - record.filled_qty.unwrap_or_default();'''
new='''            for record in records[sell_count..].iter().filter(|r| r.placed()) {
                let open = record.qty;'''
assert old in s
s=s.replace(old,new)
open(p,'w').write(s)
