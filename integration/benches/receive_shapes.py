"""How much LocalStack works per message for different ReceiveMessage request shapes (issue 22).

Drains fresh queues of N messages (each with an AWSTraceHeader and two user attributes) with two
boto3 loops of ReceiveMessage(10) + DeleteMessageBatch, asking for every attribute ("all"), only
what Baton needs ("needed"), or none ("none"), three rounds interleaved, and reports messages per
second and LocalStack's own CPU time per message (from /proc/<pid>/stat).

    bash localstack/up.sh
    localstack/.venv/bin/python integration/benches/receive_shapes.py 2000
"""
import os, sys, time, uuid, threading
import boto3
HERE = os.path.dirname(os.path.abspath(__file__))
pid = int(open(os.path.join(HERE, '..', '..', 'localstack', '.state', 'localstack.pid')).read())
def cpu():
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
sqs = boto3.client('sqs', endpoint_url='http://127.0.0.1:4566', region_name='eu-west-1',
                   aws_access_key_id='test', aws_secret_access_key='test')
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
SHAPES = {
    'all': dict(MessageSystemAttributeNames=['All'], MessageAttributeNames=['All']),
    'needed': dict(MessageSystemAttributeNames=['AWSTraceHeader', 'ApproximateReceiveCount'],
                   MessageAttributeNames=['traceparent', 'tracestate', 'X-Amzn-Trace-Id', 'x-amzn-trace-id', 'AWSTraceHeader']),
    'none': dict(),
}
HDR = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1'
def fill():
    url = sqs.create_queue(QueueName='probe-' + uuid.uuid4().hex[:12])['QueueUrl']
    for b in range(N // 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[dict(Id=str(i), MessageBody='{"order":%d}' % i,
            MessageSystemAttributes={'AWSTraceHeader': {'DataType': 'String', 'StringValue': HDR}},
            MessageAttributes={'tenant': {'DataType': 'String', 'StringValue': 'acme'},
                               'kind': {'DataType': 'String', 'StringValue': 'order'}}) for i in range(10)])
    return url
def drain(url, shape):
    done = [0]; lock = threading.Lock()
    def loop():
        while True:
            with lock:
                if done[0] >= N: return
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30, **SHAPES[shape])
            ms = r.get('Messages', [])
            if not ms:
                with lock:
                    if done[0] >= N: return
                continue
            sqs.delete_message_batch(QueueUrl=url, Entries=[dict(Id=str(i), ReceiptHandle=m['ReceiptHandle']) for i, m in enumerate(ms)])
            with lock: done[0] += len(ms)
    ts = [threading.Thread(target=loop) for _ in range(2)]
    c0, t0 = cpu(), time.time()
    for t in ts: t.start()
    for t in ts: t.join()
    return time.time() - t0, cpu() - c0
res = {k: [] for k in SHAPES}
for rnd in range(3):
    for shape in SHAPES:
        url = fill()
        wall, c = drain(url, shape)
        sqs.delete_queue(QueueUrl=url)
        res[shape].append((N / wall, c / N * 1e6))
        print(f'round {rnd} {shape:7s} {N/wall:7.0f} msg/s  LocalStack {c/N*1e6:6.0f} us CPU/msg', flush=True)
for shape, rs in res.items():
    rs.sort()
    print(f'median {shape:7s} {rs[1][0]:7.0f} msg/s  LocalStack CPU/msg {sorted(r[1] for r in rs)[1]:6.0f} us')
