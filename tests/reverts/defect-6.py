# Defect 6: replayed and live deliveries share one idempotency key.
p='lib/lambda/src/invoker/consumer.rs'
s=open(p).read()
old='''            .chain([self.scope, self.handler.idempotency_scope(event), replayed])'''
assert old in s
s=s.replace(old,'''            .chain([self.scope, self.handler.idempotency_scope(event), replayed.and(None)])''')
open(p,'w').write(s)
