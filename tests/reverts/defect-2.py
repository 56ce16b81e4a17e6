# Defect 2: the lease is given back while the plan is half done (on every outcome).
p='lib/lambda/src/invoker/pipeline.rs'
s=open(p).read()
old='''                Ok(Ran::Published {
                    follow_up: Some(_), ..
                }) => {}'''
assert old in s
s=s.replace(old,'''                Ok(Ran::Published {
                    follow_up: Some(_), ..
                }) => self.release_lease(guard).await,''')
open(p,'w').write(s)
# ... and the broker-log walls behind it (the old code had neither): no waiting for other
# plans' open orders, no refusal of a resumed plan another plan has traded past.
p='lib/trading/src/orders/engine.rs'
s=open(p).read()
old='''            if !others.is_empty() {
                return self
                    .stop(Refusal::Superseded { orders: others }, records, resumed)
                    .await;
            }'''
assert old in s
s=s.replace(old,'''            let _ = others;''')
old='''            if !busy.is_empty() {
                return Err(self.pending('''
assert old in s
s=s.replace(old,'''            if false && !busy.is_empty() {
                return Err(self.pending(''')
open(p,'w').write(s)
