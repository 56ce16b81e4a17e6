# Defect 8: a manual start has no idempotency key.
p='lib/lambda/src/invoker/trigger.rs'
s=open(p).read()
old='''            .or_else(|| Some(context.request_id.clone()).filter(|id| !id.is_empty()));'''
assert old in s
s=s.replace(old,'''            .or_else(|| Some(context.request_id.clone()).filter(|id| id.is_empty()));''')
open(p,'w').write(s)
